#!/bin/bash
# Start a KRaft broker configured from KAFKA_* variables, as the official apache/kafka image is:
# KAFKA_LOG_DIRS=/x becomes log.dirs=/x. The storage is formatted once (a volume keeps it).
set -euo pipefail
config=/opt/kafka/config/server.properties
: > "$config"
while IFS='=' read -r name value; do
  [[ $name == KAFKA_* && $name != KAFKA_HEAP_OPTS ]] || continue
  key=${name#KAFKA_}
  key=${key,,}
  echo "${key//_/.}=${value}" >> "$config"
done < <(env)
grep -q '^log.dirs=' "$config" || echo "log.dirs=/var/lib/kafka/data" >> "$config"
java_cmd=(java ${KAFKA_HEAP_OPTS:--Xmx512m} -cp '/opt/kafka/libs/*'
          -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties)
data=$(sed -n 's/^log.dirs=//p' "$config" | cut -d, -f1)
if [[ ! -f $data/meta.properties ]]; then
  # A cluster id that does not start with "-" (the storage tool would read it as an option).
  id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | sed 's/^-/A/')
  # With a static quorum (controller.quorum.voters) the storage is formatted without --standalone.
  standalone=(--standalone)
  grep -q '^controller.quorum.voters=' "$config" && standalone=()
  "${java_cmd[@]}" kafka.tools.StorageTool format "${standalone[@]}" -t "$id" -c "$config"
fi
exec "${java_cmd[@]}" kafka.Kafka "$config"
