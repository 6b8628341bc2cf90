#!/usr/bin/env bash
# The one command that runs every test: ensures the Docker engine and the sandbox and cluster images, runs
# `dotnet test Sandbox.sln`, then deploy/compose-check.sh (docker-compose up, the server image, every README client
# configuration with the official MCP TypeScript client), deploy/ui-check.sh (the dashboard in headless Chromium) and
# the tests on engines of their own (tests/Cluster.Tests: a three-node Swarm of Docker-in-Docker nodes running
# deploy/cluster/stack.yaml, and the engine-restart test), and ends with a line "N passed, N failed" counting xunit
# tests and those checks. Exits non-zero on any failure. The machine's own engine is never stopped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=deploy/lib.sh
. deploy/lib.sh
command -v dotnet >/dev/null 2>&1 || die "the .NET 10 SDK (dotnet) is required: https://dotnet.microsoft.com/download"

# No certificate or key is ever tracked outside test fixtures (the build host's CA certificates were once committed by
# an unmatched glob): such a file fails the run.
guard_failed=0
if git rev-parse --git-dir >/dev/null 2>&1; then
  tracked="$(git ls-files -- '*.crt' '*.key' '*.pem' '*.p12' '*.pfx' | grep -vE '^tests/([^/]+/)*[Ff]ixtures/' || true)"
  if [ -n "$tracked" ]; then
    log "certificates or keys are tracked outside test fixtures (remove them and ignore their folder):"
    printf '%s\n' "$tracked" | sed 's/^/  /' >&2
    guard_failed=1
  fi
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
out="$(mktemp /tmp/sandbox-test.XXXXXX)"
before="$(mktemp /tmp/sandbox-test-before.XXXXXX)"
trap 'rm -f "$out" "$before"' EXIT

# The unit tests first (pure logic, no engine: seconds), so a broken change is known before any image is built.
log "unit tests (tests/Unit.Tests, no engine)"
set +e
dotnet test tests/Unit.Tests --nologo "$@" 2>&1 | tee "$out"
rc_unit=${PIPESTATUS[0]}
set -e

deploy/ensure-engine.sh
deploy/build-images.sh cluster test
# The TypeScript client's tests (run by tests/Client.Tests) build it with npm and run it with Node.
require npm nodejs npm
# The Python client's tests (run by tests/Client.Tests) build its wheel with Debian's tools and run Debian's pytest.
/usr/bin/python3 -c 'import httpx, pytest, ensurepip, pip, wheel, setuptools, yaml' >/dev/null 2>&1 || { log "installing python3-httpx python3-pytest python3-venv python3-yaml"; apt_install python3-httpx python3-pytest python3-venv python3-pip python3-wheel python3-setuptools python3-yaml; }
export DOCKER_API_VERSION="${DOCKER_API_VERSION:-1.41}" TESTCONTAINERS_RYUK_DISABLED=true

# Our labelled containers, volumes and networks, one per line (kind, name, instance). Tests remove what they create;
# the end of the run compares this list with the one taken here, so what an earlier, interrupted run left on this
# engine is reported as such and never blamed on this run.
labelled() {
  docker ps -a --filter label=dev.sandbox.product=sandbox --format 'container {{.Names}} {{.Status}} instance={{.Label "dev.sandbox.instance"}}'
  docker volume ls --filter label=dev.sandbox.product=sandbox --format 'volume {{.Name}} instance={{.Label "dev.sandbox.instance"}}'
  docker network ls --filter label=dev.sandbox.product=sandbox --format 'network {{.Name}} instance={{.Label "dev.sandbox.instance"}}'
  docker network ls --filter label=dev.sandbox.test=true --format 'network {{.Name}} instance=test-network'
  docker ps -a --filter label=dev.sandbox.test=true --format 'container {{.Names}} instance=test-container'
  docker volume ls --filter label=dev.sandbox.test=true --format 'volume {{.Name}} instance=test-volume'
}
# Container status changes during a run ("Up 2 minutes" -> "Exited ..."); compare by kind and name only.
names() { awk '{print $1" "$2}' | sort -u; }
labelled > "$before"
if [ -s "$before" ]; then
  log "already on this engine before the tests (left by an earlier run; not counted against this one):"
  sed 's/^/  /' "$before" >&2
fi
log "dotnet test Sandbox.sln"
set +e
# Tests on engines of their own (Swarm, EngineRestart) run after the compose check, which builds the server image they deploy.
# The unit tests already ran: the filter leaves their assembly nothing to run (it reports no summary here).
dotnet test Sandbox.sln --nologo --filter "Category!=EngineRestart&Category!=Swarm&FullyQualifiedName!~Sandbox.Unit.Tests" "$@" 2>&1 | tee -a "$out"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -ne 0 ] || rc=$rc_unit

passed=0; failed=0; skipped=0; assemblies=0
# Scripted checks end with "NAME: N passed, N failed"; their counts join xunit's. A script that fails without
# reporting a failed check (a crash, a missing tool) counts as one failure.
run_check() {
  local name="$1" what="$2" rc counts
  log "$what"
  set +e
  "deploy/$name.sh" 2>&1 | tee -a "$out"
  rc=${PIPESTATUS[0]}
  set -e
  counts="$(sed -n "s/^$name: \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed\$/\1 \2/p" "$out" | tail -n 1)"
  if [ -n "$counts" ]; then
    passed=$((passed + ${counts% *})); failed=$((failed + ${counts#* }))
  fi
  if [ "$rc" -ne 0 ] && { [ -z "$counts" ] || [ "${counts#* }" -eq 0 ]; }; then
    log "$name exited $rc without reporting a failed check"
    failed=$((failed + 1))
  fi
}
# The shipped ways in: docker-compose up, the server image, and every client configuration in the README.
run_check compose-check "compose and client-configuration checks"
# The dashboard in a real browser (headless Chromium through playwright-core).
run_check ui-check "dashboard browser checks"

# A three-node Swarm of Docker-in-Docker nodes running the stack, and the engine-restart test on a disposable engine.
log "cluster tests on engines of their own (tests/Cluster.Tests)"
set +e
dotnet test tests/Cluster.Tests --nologo --filter "Category=Swarm|Category=EngineRestart" "$@" 2>&1 | tee -a "$out"
rc2=${PIPESTATUS[0]}
set -e
[ "$rc" -ne 0 ] || rc=$rc2

# Add xunit's per-assembly summaries ("Passed!  - Failed: 0, Passed: 11, Skipped: 0, ..."); tests/Cluster.Tests reports
# once, from its own run (the main run's filter leaves it nothing to run).
while IFS= read -r line; do
  p="$(sed -n 's/.*Passed: *\([0-9][0-9]*\).*/\1/p' <<<"$line")"
  f="$(sed -n 's/.*Failed: *\([0-9][0-9]*\).*/\1/p' <<<"$line")"
  s="$(sed -n 's/.*Skipped: *\([0-9][0-9]*\).*/\1/p' <<<"$line")"
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0})); assemblies=$((assemblies + 1))
done < <(grep -E '^(Passed|Failed)! +- ' "$out" || true)

expected="$(ls tests/*/*.Tests.csproj 2>/dev/null | wc -l)"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # build error, crash or a test host that died: count it, never report green
  log "dotnet test exited $rc without reporting a failed test (build error or crashed test host)"
fi
if [ "$assemblies" -lt "$expected" ]; then
  log "only $assemblies of $expected test assemblies reported results"
  [ "$failed" -gt 0 ] || failed=1
fi
if [ "$skipped" -gt 0 ]; then
  log "$skipped tests were skipped; skipping is not allowed here"
  failed=$((failed + skipped))
fi


# Tests remove what they create; anything new with our label is reported (and fails the run when it is a test's).
all="$(labelled | awk 'NR==FNR { seen[$1" "$2]=1; next } !(($1" "$2) in seen)' <(names < "$before") -)"
if [ -n "$all" ]; then
  log "sandbox containers/volumes/networks this run left behind:"
  printf '%s\n' "$all" | sed 's/^/  /' >&2
  if grep -qE 'instance=(test|srvtest|failtest|stdiotest|compose-check|ui-check|stdio)-?' <<<"$all"; then
    log "a test leaked containers, volumes or networks"
    failed=$((failed + 1))
  fi
fi

failed=$((failed + guard_failed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$rc" -eq 0 ]
