#!/usr/bin/env bash
# Browser tests of the dashboard: starts a server (with a bearer token, so the token prompt is exercised) and drives it
# with headless Chromium (Debian's package) through playwright-core. Screenshots go to docs/screenshots/.
# Ends with "ui-check: N passed, N failed"; exits non-zero on any failure. deploy/test.sh runs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DIE_REPORT="ui-check: 0 passed, 1 failed"
. deploy/lib.sh
require chromium chromium
require npm nodejs npm
(cd deploy/ui-check && npm ci --no-audit --no-fund --silent)

# Agent runs talk to a scripted model (the real Claude Code CLI, only the model scripted) on a network made here.
network="sbx-test-ui-$$"
docker network create --label dev.sandbox.test=true "$network" >/dev/null
gateway="$(docker network inspect "$network" -f '{{(index .IPAM.Config 0).Gateway}}')"
model_out="$(mktemp /tmp/sandbox-ui-model.XXXXXX)"
node deploy/ui-check/model.mjs "$gateway" >"$model_out" 2>&1 &
model=$!
for _ in $(seq 1 50); do grep -q '^http' "$model_out" && break; sleep 0.1; done
model_url="$(head -n 1 "$model_out")"

port="${UI_CHECK_PORT:-18181}"
token="ui-check-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
data="$(mktemp -d /tmp/sandbox-ui-check.XXXXXX)"
build_server >/dev/null
log "starting the server on port $port"
dotnet src/Server/bin/Release/net10.0/Sandbox.Server.dll --urls "http://127.0.0.1:$port" --Server:AuthToken="$token" \
  --Sandbox:InstanceId=ui-check --Sandbox:Durability:DataDirectory="$data" --Sandbox:Pool:Size=0 --Sandbox:Durability:KeepSessionsOnShutdown=false \
  --Sandbox:Agents:ModelEndpoint="$model_url" --Sandbox:Agents:EgressNetwork="$network" \
  >"$data/server.log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true
  kill "$model" 2>/dev/null || true; wait "$model" 2>/dev/null || true
  docker network rm "$network" >/dev/null 2>&1 || true
  rm -rf "$data" "$model_out"
}
trap stop EXIT
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { tail -n 30 "$data/server.log" >&2; die "the server exited"; }
  sleep 1
done
mkdir -p docs/screenshots
set +e
(cd deploy/ui-check && node ui.mjs "http://127.0.0.1:$port" "$token" "$(pwd)/../../docs/screenshots")
rc=$?
set -e
if [ "$rc" -ne 0 ]; then tail -n 30 "$data/server.log" >&2; fi
exit "$rc"
