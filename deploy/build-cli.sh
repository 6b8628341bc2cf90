#!/usr/bin/env bash
# Builds the `sandbox` command line two ways, into dist/cli/:
#   dist/cli/packages/Sandbox.Cli.<version>.nupkg   the .NET tool package (dotnet tool install -g Sandbox.Cli --add-source dist/cli/packages)
#   dist/cli/<rid>/sandbox[.exe]                    a self-contained single-file binary per runtime (no .NET needed to run it)
# Usage: deploy/build-cli.sh [RID...]   (default: linux-x64; others: linux-arm64 osx-arm64 osx-x64 win-x64)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=deploy/lib.sh
. deploy/lib.sh
command -v dotnet >/dev/null 2>&1 || die "the .NET 10 SDK (dotnet) is required: https://dotnet.microsoft.com/download"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

out=dist/cli
rm -rf "$out" && mkdir -p "$out/packages"
log "packing the tool"
dotnet pack src/Cli -c Release -o "$out/packages" --nologo -v quiet
for rid in "${@:-linux-x64}"; do
  log "self-contained binary for $rid"
  dotnet publish src/Cli -c Release -r "$rid" --self-contained -p:PublishSingleFile=true -p:DebugType=none -p:GenerateDocumentationFile=false -o "$out/$rid" --nologo -v quiet
done
log "done: $(cd "$out" && find . -maxdepth 2 -type f \( -name '*.nupkg' -o -name sandbox -o -name sandbox.exe \) | sort | tr '\n' ' ')"
