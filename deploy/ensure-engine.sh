#!/usr/bin/env bash
# Makes sure a Docker engine answers. Idempotent: does nothing when one already does.
# Order: DOCKER_HOST / the default socket; otherwise, on Debian as root, install docker.io and
# start dockerd without systemd. Anything else is a clear error, never a silent fallback.
set -euo pipefail

# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
has_gvisor() { timeout 10 docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q "\"${GVISOR_RUNTIME}\""; }

# gVisor (the default isolation tier): Debian's runsc from bookworm-backports (release 2024-07-29; bookworm's own,
# 2022-12-19, never tells epoll that a terminal's other side hung up, which hangs programs that run commands on a
# pseudo-terminal, such as Codex), registered with the engine as runtime "runsc". The ptrace platform works everywhere
# (KVM is rarely there in VMs) and costs an idle sandbox next to nothing (systrap, the release's default, keeps ~4 % of
# a core busy per idle sandbox: measured); the sandbox uses the container's own network namespace (--network=host:
# gVisor's own network stack refuses to start in some nested environments, and sessions must be able to join an agent
# run's internal network while running). Override with SANDBOX_RUNSC_ARGS (space-separated).
GVISOR_RUNTIME="${SANDBOX_GVISOR_RUNTIME:-runsc}"
# --directfs=false: with the 2024 release's direct file access, opening a file with O_TRUNC on a read-only bind mount
# (an operator's context directory) fails with EROFS but truncates the file on the host (measured); through the gofer,
# as in the 2022 release, the mount holds.
RUNSC_ARGS="${SANDBOX_RUNSC_ARGS:---platform=ptrace --network=host --directfs=false}"
DAEMON_JSON="${SANDBOX_DAEMON_JSON:-/etc/docker/daemon.json}"

# Registers runsc in daemon.json, keeping every other setting (and other runtimes) as they are. Exit status: 0 the
# file changed, 3 it already had it, anything else an error (an unreadable daemon.json is never overwritten).
register_gvisor() {
  require python3 python3-minimal
  mkdir -p "$(dirname "$DAEMON_JSON")"
  python3 - "$DAEMON_JSON" "$GVISOR_RUNTIME" "$(command -v runsc)" $RUNSC_ARGS <<'PY'
import json, os, sys
path, name, binary, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
config = {}
if os.path.exists(path) and os.path.getsize(path) > 0:
    with open(path) as f:
        config = json.load(f)  # an unreadable file is an error to fix, never overwritten
want = {"path": binary, "runtimeArgs": args}
if config.get("runtimes", {}).get(name) == want:
    sys.exit(3)
config.setdefault("runtimes", {})[name] = want
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
PY
}

GVISOR_MIN_RELEASE=20240729

# The installed runsc's release date as a number (runsc version 0.0~20240729.0 -> 20240729), 0 when unknown.
runsc_release() {
  local v
  v="$(runsc --version 2>/dev/null | sed -n 's/^runsc version [^~]*~\{0,1\}\([0-9]\{8\}\).*/\1/p' | head -n 1)"
  echo "${v:-0}"
}

# bookworm-backports is a normal Debian source on the mirror apt already uses; it is added (once) beside that source.
install_backported_runsc() {
  local list=/etc/apt/sources.list.d/sandbox-bookworm-backports.sources mirror
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)"
    [ -n "$mirror" ] || mirror="$(awk '$1=="deb" && $0 ~ /debian/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "${mirror:-http://deb.debian.org/debian}" > "$list"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq -t bookworm-backports runsc
}

# Makes the gVisor runtime available when we may (root, Debian, the local engine). Never fatal: without it sessions
# fall back to the container tier, which /healthz reports (operators who must not fall back set
# Sandbox:Isolation:Required=true). SANDBOX_GVISOR=0 skips it.
ensure_gvisor() {
  [ "${SANDBOX_GVISOR:-1}" != "0" ] || { log "gVisor: skipped (SANDBOX_GVISOR=0)"; return 0; }
  if [ -n "${DOCKER_HOST:-}" ] || [ "$(id -u)" != "0" ] || [ ! -r /etc/debian_version ]; then
    return 0
  fi
  if ! command -v runsc >/dev/null 2>&1 || [ "$(runsc_release)" -lt "$GVISOR_MIN_RELEASE" ]; then
    log "installing gVisor (runsc, release $GVISOR_MIN_RELEASE or newer) from Debian's bookworm-backports"
    (install_backported_runsc) >/dev/null 2>&1 || log "WARNING: could not install runsc from bookworm-backports"
    if ! command -v runsc >/dev/null 2>&1; then
      log "WARNING: no runsc; sessions will use the container tier"
      return 0
    fi
    [ "$(runsc_release)" -ge "$GVISOR_MIN_RELEASE" ] || log "WARNING: runsc $(runsc_release) is older than $GVISOR_MIN_RELEASE: agents that run commands on a terminal (Codex) may hang"
  fi
  local rc=0
  register_gvisor || rc=$?
  case "$rc" in
    0) log "registered the $GVISOR_RUNTIME runtime in $DAEMON_JSON"
       if pgrep -x dockerd >/dev/null 2>&1; then
         log "reloading the engine's configuration (running containers keep running)"
         kill -HUP "$(pgrep -xo dockerd)"
       fi ;;
    3) ;;
    *) log "WARNING: could not register $GVISOR_RUNTIME in $DAEMON_JSON; sessions will use the container tier" ;;
  esac
}

if command -v docker >/dev/null 2>&1 && engine_answers; then
  log "engine reachable: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)"
  # Idempotent: installs or upgrades runsc only when missing or older, and rewrites its registration only when it differs.
  ensure_gvisor
  for _ in $(seq 1 20); do has_gvisor && break; sleep 0.5; done
  has_gvisor && log "gVisor runtime '$GVISOR_RUNTIME' available" || log "gVisor runtime '$GVISOR_RUNTIME' not available: sessions use the container tier"
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  die "DOCKER_HOST=$DOCKER_HOST is set but no engine answers there. Start that engine or unset DOCKER_HOST."
fi
[ "$(id -u)" = "0" ] || die "no Docker engine answers and we are not root, so we cannot install one. Start Docker (or add your user to the docker group) and retry."
[ -r /etc/debian_version ] || die "no Docker engine answers and this is not Debian; install Docker Engine for your OS (https://docs.docker.com/engine/install/) and retry."

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io from Debian (no engine found)"
  apt_install docker.io
fi
# Debian's docker.io ships its own client in /usr/bin; a newer client elsewhere on PATH is fine (API is negotiated).
command -v docker >/dev/null 2>&1 || die "docker client missing after installing docker.io"

ensure_gvisor
if ! pgrep -x dockerd >/dev/null 2>&1; then
  log "starting dockerd without systemd (log: /var/log/dockerd.log)"
  setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
fi

for _ in $(seq 1 60); do
  if engine_answers; then
    log "engine up: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null)"
    has_gvisor && log "gVisor runtime '$GVISOR_RUNTIME' available" || log "gVisor runtime '$GVISOR_RUNTIME' not available: sessions use the container tier"
    exit 0
  fi
  sleep 1
done
tail -n 30 /var/log/dockerd.log >&2 || true
die "dockerd did not answer within 60 s (see /var/log/dockerd.log)"
