# Sourced by the deploy scripts, which define log and die first.

# require COMMAND PACKAGE...: when COMMAND is missing, installs the Debian PACKAGEs (as root on Debian), or fails
# naming what to install.
require() {
  local command="$1"; shift
  command -v "$command" >/dev/null 2>&1 && return 0
  [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 || die "$command is missing; install it (as root on Debian: apt-get install $*)"
  log "installing $*"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
