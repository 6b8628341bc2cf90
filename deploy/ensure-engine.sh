#!/usr/bin/env bash
# Makes sure a Docker engine answers. Idempotent: does nothing when one already does.
# Order: DOCKER_HOST / the default socket; otherwise, on Debian as root, install docker.io and
# start dockerd without systemd. Anything else is a clear error, never a silent fallback.
set -euo pipefail

log() { printf '[ensure-engine] %s\n' "$*" >&2; }
die() { printf '[ensure-engine] ERROR: %s\n' "$*" >&2; exit 1; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  log "engine reachable: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)"
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  die "DOCKER_HOST=$DOCKER_HOST is set but no engine answers there. Start that engine or unset DOCKER_HOST."
fi
[ "$(id -u)" = "0" ] || die "no Docker engine answers and we are not root, so we cannot install one. Start Docker (or add your user to the docker group) and retry."
[ -r /etc/debian_version ] || die "no Docker engine answers and this is not Debian; install Docker Engine for your OS (https://docs.docker.com/engine/install/) and retry."

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io from Debian (no engine found)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi
# Debian's docker.io ships its own client in /usr/bin; a newer client elsewhere on PATH is fine (API is negotiated).
command -v docker >/dev/null 2>&1 || die "docker client missing after installing docker.io"

if ! pgrep -x dockerd >/dev/null 2>&1; then
  log "starting dockerd without systemd (log: /var/log/dockerd.log)"
  setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
fi

for _ in $(seq 1 60); do
  if engine_answers; then
    log "engine up: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)"
    exit 0
  fi
  sleep 1
done
tail -n 30 /var/log/dockerd.log >&2 || true
die "dockerd did not answer within 60 s (see /var/log/dockerd.log)"
