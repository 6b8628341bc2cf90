#!/usr/bin/env bash
# The one command that runs the product: ensures a Docker engine and the sandbox images, then starts the
# server in the foreground on http://127.0.0.1:8080 (override with --urls URL or ASPNETCORE_URLS).
# Extra arguments go to the server (see --help), e.g. deploy/run.sh --urls http://127.0.0.1:9000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v dotnet >/dev/null 2>&1 || { echo "[run] ERROR: the .NET 10 SDK (dotnet) is required: https://dotnet.microsoft.com/download" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

deploy/ensure-engine.sh
deploy/build-images.sh
echo "[run] building the server" >&2
dotnet build src/Server -c Release -v quiet -nologo -clp:ErrorsOnly >&2
exec dotnet src/Server/bin/Release/net10.0/Sandbox.Server.dll "$@"
