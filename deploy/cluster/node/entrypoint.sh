#!/bin/bash
# Starts the node's engine. INSECURE_REGISTRIES (comma-separated host:port) names plain-HTTP registries it may pull
# from. The engine is restarted by `docker exec NODE sandbox-node restart` (what an engine-restart test does).
set -euo pipefail
if [ "${1:-}" = "restart" ]; then
  pid="$(cat /var/run/docker.pid)"; kill "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  setsid /usr/local/bin/sandbox-node engine >>/var/log/dockerd.log 2>&1 < /dev/null &
  exit 0
fi
regs=""
IFS=',' read -ra list <<< "${INSECURE_REGISTRIES:-}"
for r in "${list[@]}"; do [ -n "$r" ] && regs="$regs\"$r\","; done
cat > /etc/docker/daemon.json <<JSON
{
  "insecure-registries": [${regs%,}],
  "runtimes": { "runsc": { "path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=host"] } }
}
JSON
if [ "${1:-}" = "engine" ]; then
  exec dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false
fi
# A node killed and started again finds its last run's pid files and sockets: they would keep the engine from
# starting its containerd. Nothing of them is alive now (this is the container's first process).
rm -rf /var/run/docker /var/run/docker.pid /var/run/docker.sock /run/containerd /var/run/containerd
# PID 1 stays a shell that keeps the engine's log and survives engine restarts.
setsid /usr/local/bin/sandbox-node engine >>/var/log/dockerd.log 2>&1 < /dev/null &
trap 'kill "$(cat /var/run/docker.pid 2>/dev/null)" 2>/dev/null; exit 0' TERM INT
while true; do sleep 3600 & wait $!; done
