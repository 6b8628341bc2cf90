#!/usr/bin/env bash
# Builds the sandbox images, each only when its build inputs changed.
#   - Every image carries the label dev.sandbox.inputs-hash = sha256 of its build inputs
#     (Dockerfile, context files, base image id, extra CA certificates); an image whose label
#     matches is left alone.
#   - The base is a build argument. BASE_IMAGE (default debian:bookworm-slim) is used when it is
#     present or can be pulled; otherwise a local Debian bookworm base is made once with
#     debootstrap + docker import and tagged sandbox-base:bookworm (reused while present).
#   - EXTRA_CA_DIR (default /usr/local/share/ca-certificates) supplies *.crt files copied into
#     builds, for networks with a TLS-inspecting proxy. Set EXTRA_CA_DIR= to copy none.
# Usage: deploy/build-images.sh [image ...]   (default: all images under deploy/images)
#        deploy/build-images.sh cluster       also builds the cluster's images under deploy/cluster: PostgreSQL
#                                             (sandbox-postgres), an image registry (sandbox-registry) and a
#                                             Docker-in-Docker node (sandbox-node), all from Debian packages
#        deploy/build-images.sh test          also builds the test suite's own images under tests/images
#                                             (sandbox-test-<name>: an image with Node.js and no Python)
#        deploy/build-images.sh compose       also prepares `docker compose`: the sandbox images, a .NET SDK image
#                                             (the official one, or a local one made from this machine's SDK when
#                                             no registry answers), CA certificates, and .env naming the images.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=deploy/lib.sh
. "$here/lib.sh"

BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
LOCAL_BASE="sandbox-base:bookworm"
EXTRA_CA_DIR="${EXTRA_CA_DIR-/usr/local/share/ca-certificates}"

docker info >/dev/null 2>&1 || die "no Docker engine answers; run deploy/ensure-engine.sh first"

debian_mirror() {
  local m=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    m="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
    m="$(awk '$1=="deb" && $0 ~ /debian/ {print $2; exit}' /etc/apt/sources.list)"
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

resolve_base() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then echo "$BASE_IMAGE"; return; fi
  if timeout 60 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then echo "$BASE_IMAGE"; return; fi
  if docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    log "using cached local base $LOCAL_BASE ($BASE_IMAGE cannot be pulled)"
    echo "$LOCAL_BASE"; return
  fi
  log "$BASE_IMAGE cannot be pulled; building $LOCAL_BASE with debootstrap"
  [ "$(id -u)" = "0" ] || die "building a local base needs root (debootstrap); or make $BASE_IMAGE available"
  require debootstrap debootstrap
  local rootfs mirror
  rootfs="$(mktemp -d /tmp/sandbox-rootfs.XXXXXX)"
  mirror="$(debian_mirror)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/tmp/debootstrap.log 2>&1 \
    || { tail -n 20 /tmp/debootstrap.log >&2; rm -rf "$rootfs"; die "debootstrap failed"; }
  # The mirror apt uses inside builds; security updates come from the same host when it mirrors them.
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$mirror" "$mirror" > "$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$LOCAL_BASE" >/dev/null
  rm -rf "$rootfs"
  log "built $LOCAL_BASE"
  echo "$LOCAL_BASE"
}

build_one() {
  local name="$1" base="$2" dir="${3:-$here/images/$1}"
  [ -d "$dir" ] || [ ! -d "$here/cluster/$1" ] || dir="$here/cluster/$1"
  [ -f "$dir/Dockerfile" ] || die "no Dockerfile in $dir"
  local ctx; ctx="$(mktemp -d /tmp/sandbox-ctx.XXXXXX)"
  cp -a "$dir/." "$ctx/"
  mkdir -p "$ctx/certs"
  rm -f "$ctx/certs/.keep" "$ctx/certs/"*.crt
  if [ -n "$EXTRA_CA_DIR" ] && compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
    cp "$EXTRA_CA_DIR"/*.crt "$ctx/certs/"
  fi
  local base_id hash tag current
  base_id="$(docker image inspect --format '{{.Id}}' "$base")"
  hash="$( (cd "$ctx" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; echo "base=$base_id") | sha256sum | cut -c1-64)"
  tag="sandbox-$name:latest"
  current="$(docker image inspect --format '{{ index .Config.Labels "dev.sandbox.inputs-hash" }}' "$tag" 2>/dev/null || true)"
  if [ "$current" = "$hash" ]; then
    log "$tag is up to date (inputs ${hash:0:12})"
    rm -rf "$ctx"; return
  fi
  log "building $tag from $base (inputs ${hash:0:12})"
  if ! docker build -q --build-arg "BASE=$base" \
        --label "dev.sandbox.inputs-hash=$hash" --label "dev.sandbox.image=$name" \
        -t "$tag" "$ctx" >/tmp/sandbox-build-"$name".log 2>&1; then
    tail -n 40 /tmp/sandbox-build-"$name".log >&2
    rm -rf "$ctx"; die "building $tag failed (full log: /tmp/sandbox-build-$name.log)"
  fi
  rm -rf "$ctx"
  log "built $tag"
}

SDK_IMAGE="${SDK_IMAGE:-mcr.microsoft.com/dotnet/sdk:10.0}"
LOCAL_SDK="sandbox-dotnet-sdk:10.0"

# A .NET SDK image for building the server image: the official one when present or pullable, else one made once from
# this machine's own SDK on the local base (cached by tag and SDK version).
resolve_sdk() {
  local base="$1"
  if docker image inspect "$SDK_IMAGE" >/dev/null 2>&1; then echo "$SDK_IMAGE"; return; fi
  if timeout 120 docker pull -q "$SDK_IMAGE" >/dev/null 2>&1; then echo "$SDK_IMAGE"; return; fi
  command -v dotnet >/dev/null 2>&1 || die "$SDK_IMAGE cannot be pulled and no local .NET SDK exists to make $LOCAL_SDK"
  local root version current ctx
  root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
  version="$(dotnet --version)"
  current="$(docker image inspect --format '{{ index .Config.Labels "dev.sandbox.sdk-version" }}' "$LOCAL_SDK" 2>/dev/null || true)"
  if [ "$current" = "$version" ]; then
    log "using cached $LOCAL_SDK (SDK $version; $SDK_IMAGE cannot be pulled)"
    echo "$LOCAL_SDK"; return
  fi
  log "$SDK_IMAGE cannot be pulled; making $LOCAL_SDK from this machine's SDK $version ($root)"
  ctx="$(mktemp -d /tmp/sandbox-sdk.XXXXXX)"
  cp -a "$root" "$ctx/dotnet"
  cat > "$ctx/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends libicu72 ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY dotnet/ /usr/share/dotnet/
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
DOCKERFILE
  if ! docker build -q --build-arg "BASE=$base" --label "dev.sandbox.sdk-version=$version" -t "$LOCAL_SDK" "$ctx" >/tmp/sandbox-build-sdk.log 2>&1; then
    tail -n 30 /tmp/sandbox-build-sdk.log >&2; rm -rf "$ctx"; die "building $LOCAL_SDK failed"
  fi
  rm -rf "$ctx"
  log "built $LOCAL_SDK"
  echo "$LOCAL_SDK"
}

# What docker compose needs besides the images: CA certificates in the build contexts and .env naming the bases.
prepare_compose() {
  local base="$1" sdk repo
  sdk="$(resolve_sdk "$base")"
  repo="$(cd "$here/.." && pwd)"
  # Only folders that exist: an unmatched glob would otherwise name a folder literally "*".
  local dirs=("$repo/deploy/certs") image
  for image in "$here"/images/*/ "$here"/cluster/*/; do [ -d "$image" ] && dirs+=("${image%/}/certs"); done
  for d in "${dirs[@]}"; do
    mkdir -p "$d"
    rm -f "$d"/*.crt
    if [ -n "$EXTRA_CA_DIR" ] && compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then cp "$EXTRA_CA_DIR"/*.crt "$d/"; fi
  done
  {
    echo "# Written by deploy/build-images.sh compose: the images this machine builds from."
    echo "SANDBOX_BASE_IMAGE=$base"
    echo "SANDBOX_SDK_IMAGE=$sdk"
  } > "$repo/.env"
  log "wrote .env (base $base, SDK $sdk); docker compose up is ready"
}

images=()
compose=0
cluster=0
tests=0
for arg in "$@"; do
  case "$arg" in
    compose) compose=1 ;;
    test) tests=1 ;;
    cluster) cluster=1 ;;
    *) images+=("$arg") ;;
  esac
done
if [ ${#images[@]} -eq 0 ]; then
  for d in "$here"/images/*/; do images+=("$(basename "$d")"); done
fi
base="$(resolve_base)"
for img in "${images[@]}"; do build_one "$img" "$base"; done
if [ "$cluster" = 1 ]; then
  for img in postgres registry node; do build_one "$img" "$base" "$here/cluster/$img"; done
fi
if [ "$tests" = 1 ]; then
  for d in "$here"/../tests/images/*/; do build_one "test-$(basename "$d")" "$base" "${d%/}"; done
fi
# Earlier builds of our images, untagged by the rebuilds, would pile up on a machine that keeps its engine.
docker image prune -f --filter "label=dev.sandbox.image" >/dev/null 2>&1 || true
if [ "$compose" = 1 ]; then prepare_compose "$base"; fi
