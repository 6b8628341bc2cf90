#!/usr/bin/env bash
# Checks the shipped ways in, as a user meets them: `docker-compose up` from this checkout ends with a healthy server,
# and every client configuration in README.md and .vscode/mcp.json works with MCP clients we did not write (the
# official TypeScript SDK client; mcp-remote). Then everything is torn down and nothing may be left behind.
# Ends with "compose-check: N passed, N failed"; exits non-zero on any failure. deploy/test.sh runs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"

. deploy/lib.sh
require docker-compose docker-compose
require npm nodejs npm

deploy/ensure-engine.sh
deploy/build-images.sh compose
log "installing the MCP client tools (npm ci)"
(cd deploy/mcp-check && npm ci --no-audit --no-fund --silent)

export SANDBOX_PORT="${SANDBOX_PORT:-18080}" SANDBOX_INSTANCE_ID="compose-check"
project="sandbox-compose-check"
base="http://127.0.0.1:$SANDBOX_PORT"
compose() { docker-compose -p "$project" "$@"; }
passed=0; failed=0
check() {
  local name="$1"; shift
  if "$@"; then passed=$((passed + 1)); log "ok: $name"; else failed=$((failed + 1)); log "FAILED: $name"; fi
}
teardown() { compose down -v --remove-orphans >/dev/null 2>&1 || true; }
trap teardown EXIT

wait_healthy() {
  for _ in $(seq 1 90); do
    if curl -sf "$base/healthz" >/dev/null 2>&1; then
      local state; state="$(docker inspect --format '{{.State.Health.Status}}' "$(compose ps -q sandbox)")"
      [ "$state" = "healthy" ] && return 0
    fi
    sleep 2
  done
  compose logs --tail 50 sandbox >&2 || true
  return 1
}

# Build the server image from this checkout; the sandbox images exist already (deploy/build-images.sh made them, with
# their inputs-hash labels), so `up` builds nothing else: it would only rebuild what is missing.
log "docker-compose build sandbox; docker-compose up -d (port $SANDBOX_PORT)"
if compose build sandbox >/tmp/compose-check-up.log 2>&1 && compose up -d >>/tmp/compose-check-up.log 2>&1; then
  check "docker-compose up ends with a healthy server (container health check and /healthz)" wait_healthy
else
  tail -n 40 /tmp/compose-check-up.log >&2
  check "docker-compose up" false
fi

mcp() { (cd deploy/mcp-check && node check.mjs "$@" "$base"); }
check "Cursor config (url) with the TypeScript SDK client" mcp http cursor
check "VS Code .vscode/mcp.json with the TypeScript SDK client" mcp http vscode
check "Claude Desktop config via mcp-remote" mcp stdio claude-desktop-mcp-remote
check "Claude Desktop config with docker run -i (server image, stdio)" mcp stdio claude-desktop-docker
build_server >/dev/null
check "Claude Desktop config with dotnet --stdio" mcp stdio claude-desktop-dotnet

log "docker-compose down -v"
compose down -v --remove-orphans >/dev/null 2>&1
trap - EXIT
leftovers() {
  local left tries=0
  # A stdio server whose client has closed shuts down on its own (it removes its warm pool), and may still be at it:
  # what it has not removed within a minute is left behind.
  while [ "$tries" -lt 30 ] && docker ps -a --filter "label=dev.sandbox.product=sandbox" --format '{{.Label "dev.sandbox.instance"}}' | grep -q '^stdio-'; do
    tries=$((tries + 1)); sleep 2
  done
  left="$(docker ps -a --filter "label=com.docker.compose.project=$project" --format '{{.Names}}')
$(docker ps -a --filter "label=dev.sandbox.instance=$SANDBOX_INSTANCE_ID" --format '{{.Names}}')
$(docker ps -a --filter "label=dev.sandbox.product=sandbox" --format '{{.Names}} {{.Label "dev.sandbox.instance"}}' | grep ' stdio-' || true)
$(docker volume ls --filter "label=com.docker.compose.project=$project" --format '{{.Name}}')
$(docker network ls --filter "label=com.docker.compose.project=$project" --format '{{.Name}}')"
  left="$(sed '/^[[:space:]]*$/d' <<<"$left")"
  [ -z "$left" ] || { log "left behind: $left"; return 1; }
}
check "nothing left behind after down" leftovers

echo "compose-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
