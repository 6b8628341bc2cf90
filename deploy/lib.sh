# The deploy scripts' shared library: sourced by every script in deploy/ right after `set -euo pipefail`.
#   log MESSAGE...        a line on stderr, tagged with the script's name ([build-images] ...)
#   die MESSAGE...        the same as an ERROR, then exit 1; a script that reports counts sets DIE_REPORT to the
#                         line it must print on the way out (e.g. "ui-check: 0 passed, 1 failed")
#   apt_install PKG...    installs Debian packages quietly (root on Debian only)
#   require CMD PKG...    installs PKGs when CMD is missing, or fails naming what to install
#   build_server          builds the server (Release) for the scripts that run it from source

LOG_TAG="${LOG_TAG:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}"
log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() {
  printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2
  [ -z "${DIE_REPORT:-}" ] || echo "$DIE_REPORT"
  exit 1
}

apt_install() {
  [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 || die "cannot install $* (needs root on Debian: apt-get install $*)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null
}

require() {
  local command="$1"; shift
  command -v "$command" >/dev/null 2>&1 && return 0
  log "installing $*"
  apt_install "$@"
}

build_server() {
  command -v dotnet >/dev/null 2>&1 || die "the .NET 10 SDK (dotnet) is required: https://dotnet.microsoft.com/download"
  export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
  log "building the server"
  dotnet build "$(dirname "${BASH_SOURCE[0]}")/../src/Server" -c Release -v quiet -nologo -clp:ErrorsOnly >&2
}
