#!/usr/bin/env bash
# The one command that runs the product: ensures a Docker engine and the sandbox images, then starts the
# server in the foreground on http://127.0.0.1:8080 (override with --urls URL or ASPNETCORE_URLS).
# Extra arguments go to the server (see --help), e.g. deploy/run.sh --urls http://127.0.0.1:9000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=deploy/lib.sh
. deploy/lib.sh

deploy/ensure-engine.sh
deploy/build-images.sh
build_server
exec dotnet src/Server/bin/Release/net10.0/Sandbox.Server.dll "$@"
