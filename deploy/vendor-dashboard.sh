#!/usr/bin/env bash
# Copies the browser libraries the dashboard serves itself (xterm.js for its terminal; no CDN) from npm into
# src/Server/Dashboard/vendor/, where the server build embeds them. The server's build runs this when they are
# missing; it needs Node's npm (installed with apt on Debian when absent and run as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
src=deploy/dashboard-vendor
dest=src/Server/Dashboard/vendor
# shellcheck source=deploy/lib.sh
. deploy/lib.sh
# npm is needed once to fetch xterm.js for the dashboard.
require npm nodejs npm
# npm uses its own CA list unless told to trust the system's (which holds any extra corporate CA).
export NODE_EXTRA_CA_CERTS="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
(cd "$src" && npm ci --no-audit --no-fund --silent)
mkdir -p "$dest"
cp "$src/node_modules/@xterm/xterm/lib/xterm.js" "$dest/xterm.js"
cp "$src/node_modules/@xterm/xterm/css/xterm.css" "$dest/xterm.css"
cp "$src/node_modules/@xterm/addon-fit/lib/addon-fit.js" "$dest/addon-fit.js"
log "vendored xterm.js $(node -p "require('./$src/node_modules/@xterm/xterm/package.json').version" 2>/dev/null || echo '?') into $dest"
