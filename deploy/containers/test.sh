#!/bin/bash
# make test-containers (issue 16): install Docker's engine if missing (Debian's docker.io,
# docker-compose and debootstrap), start dockerd if none runs (and stop it again at the end),
# build the images (build.sh) and run the compose stack test.
#   test.sh          all of it
#   test.sh --probe  only whether dockerd can run here: exit 0, or 1 with the reason (.ci/run)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
log=${TMPDIR:-/tmp}/twincast-dockerd.log
started=""

install_engine() {
  if command -v dockerd >/dev/null && command -v debootstrap >/dev/null \
    && { command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1; }; then
    return 0
  fi
  echo "test.sh: installing docker.io, docker-compose and debootstrap from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
}

stop_engine() {
  [[ -n $started ]] || return 0
  echo "test.sh: stopping the dockerd it started (pid $started)"
  kill "$started" 2>/dev/null && wait "$started" || true
  started=""
}

start_engine() {
  docker info >/dev/null 2>&1 && return 0
  dockerd >"$log" 2>&1 &
  started=$!
  trap stop_engine EXIT
  local deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)) && kill -0 "$started" 2>/dev/null; do
    docker info >/dev/null 2>&1 && { echo "test.sh: started dockerd (pid $started)"; return 0; }
    sleep 0.5
  done
  kill "$started" 2>/dev/null || true  # still running but not answering: give up on it
  wait "$started" 2>/dev/null || true
  started=""
  echo "test.sh: dockerd cannot start here; the end of $log:"
  tail -5 "$log"
  return 1
}

install_engine || { echo "test.sh: cannot install Docker's engine from Debian's packages"; exit 1; }
start_engine
if [[ ${1:-} == --probe ]]; then
  stop_engine
  exit 0
fi
start=$SECONDS
cd "$root"
"$root/deploy/containers/build.sh"
echo "test.sh: images built in $((SECONDS - start)) s"
"$root/.venv/bin/pytest" --containers -s -q -p no:cacheprovider "$root/tests/containers"
echo "test.sh: make test-containers took $((SECONDS - start)) s after the engine was up"
