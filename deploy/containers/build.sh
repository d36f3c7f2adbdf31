#!/bin/bash
# Build the images the container test runs (issue 16), from nothing but Debian's packages, PyPI
# and Maven Central: no image registry is needed.
#   twincast-ct/debian:bookworm   debootstrap --variant=minbase, imported (tarball cached)
#   twincast-ct/python:3.11       stand-in for python:3.11-slim (deploy/containers/python)
#   twincast-ct/kafka:test        stand-in for apache/kafka: the jars `twincast kafka fetch` resolves
#   twincast-ct/prometheus:test   stand-in for prom/prometheus: Debian's prometheus package
#   twincast-ct/twincast:test     the project's Dockerfile on the python stand-in
# Docker's layer cache keeps the rest between runs; each step prints its wall time.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/deploy/containers
cache=${TWINCAST_CT_CACHE:-$HOME/.cache/twincast/containers}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
twincast=${TWINCAST:-$root/.venv/bin/twincast}

build() {  # the legacy builder (Debian's docker.io has no buildx); errors still reach stderr
  docker build -q --force-rm "$@" >/dev/null 2> >(grep -v -e DEPRECATED -e buildx -e '^ *$' >&2)
}

step() {  # step NAME COMMAND...: run it and say how long it took
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "build.sh: $name took $((SECONDS - start)) s"
}

debian_base() {
  docker image inspect twincast-ct/debian:bookworm >/dev/null 2>&1 && return
  local tarball=$cache/bookworm-minbase.tar
  if [[ ! -f $tarball ]]; then
    mkdir -p "$cache"
    local dir
    dir=$(mktemp -d /tmp/twincast-ct-rootfs.XXXXXX)
    debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$cache/debootstrap.log" 2>&1 \
      || { tail -20 "$cache/debootstrap.log"; rm -rf "$dir"; exit 1; }
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$dir"
  fi
  docker import "$tarball" twincast-ct/debian:bookworm >/dev/null
}

kafka_image() {
  local jars context
  jars=$("$twincast" kafka fetch | sed -n 's/.* jars ready in //p')
  [[ -d $jars ]] || { echo "build.sh: no Kafka jars from twincast kafka fetch" >&2; exit 1; }
  context=$(mktemp -d /tmp/twincast-ct-kafka.XXXXXX)
  cp "$here"/kafka/* "$context"/
  cp -rL "$jars" "$context"/jars
  build -t twincast-ct/kafka:test "$context"
  rm -rf "$context"
}

python_base() {
  local context
  context=$(mktemp -d /tmp/twincast-ct-python.XXXXXX)
  cp "$here"/python/Dockerfile "$context"/
  mkdir "$context"/local-ca
  cp /usr/local/share/ca-certificates/*.crt "$context"/local-ca/ 2>/dev/null || true
  build -t twincast-ct/python:3.11 "$context"
  rm -rf "$context"
}

step "debian base" debian_base
step "python base" python_base
step "kafka image" kafka_image
step "prometheus image" build -t twincast-ct/prometheus:test "$here/prometheus"
step "twincast image" build -t twincast-ct/twincast:test \
  --build-arg PYTHON_IMAGE=twincast-ct/python:3.11 "$root"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' 'twincast-ct/*'
