#!/bin/sh
# Starts the server as the unprivileged user 10001. Started as root (the default), it first gives that user the group
# of the mounted Docker socket, whatever its number on this host, then drops root for good with setpriv.
set -eu
if [ "$(id -u)" = "0" ]; then
  groups=10001
  for sock in /var/run/docker.sock /run/docker.sock; do
    if [ -S "$sock" ]; then groups="$groups,$(stat -c %g "$sock")"; break; fi
  done
  chown 10001:10001 /data 2>/dev/null || true
  exec setpriv --reuid=10001 --regid=10001 --groups="$groups" --inh-caps=-all --bounding-set=-all --no-new-privs \
    /app/Sandbox.Server "$@"
fi
exec /app/Sandbox.Server "$@"
