#!/usr/bin/env bash
# Builds the images the k8s lane runs, without a Docker engine and without pulling any image:
#   - stand-ins for the Dockerfile's bases (debian:bookworm-slim from Debian's archive with
#     mmdebstrap; node:20-bookworm-slim = that plus this host's Node.js, same major);
#   - the poolcsi image from the repository's Dockerfile (buildah);
#   - one image per sidecar from the binaries build-go.sh made, tagged as the chart names them;
#   - a static busybox image for the pod sandbox (pause) and the test pods.
# Each lands as a docker-archive tar in $CACHE/images, keyed by version (poolcsi: by a hash of
# the files the Dockerfile copies), and is skipped when already there.
# Prints nothing but progress; the lane imports the tars into containerd.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE=${POOLCSI_K8S_CACHE:-/var/tmp/poolcsi-cache/k8s}
IMAGES=$CACHE/images
mkdir -p "$IMAGES"
BUILDAH=(buildah --root "$CACHE/buildah/storage" --runroot "$CACHE/buildah/run" --storage-driver overlay)
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY=${DEBIAN_SECURITY:-http://deb.debian.org/debian-security}

has_image() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }
save() { # image tar
  local tmp=$2.tmp
  rm -f "$tmp"
  "${BUILDAH[@]}" push -q "$1" "docker-archive:$tmp:$1" >/dev/null
  mv "$tmp" "$2"
}

# docker.io/library/debian:bookworm-slim: a minbase bookworm from Debian's archive.
debian_base() {
  local ref=docker.io/library/debian:bookworm-slim
  has_image "$ref" && return 0
  local tar=$CACHE/debian-bookworm-minbase.tar
  if [[ ! -s $tar ]]; then
    echo "build-images: mmdebstrap bookworm minbase"
    mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$tar.tmp" \
      "deb $DEBIAN_MIRROR bookworm main" "deb $DEBIAN_MIRROR bookworm-updates main" \
      "deb $DEBIAN_SECURITY bookworm-security main"
    mv "$tar.tmp" "$tar"
  fi
  local c; c=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" add "$c" "$tar" / >/dev/null
  # The CAs this machine trusts beyond Debian's (a TLS-inspecting egress proxy, say), so the
  # build's npm and apt reach the registries the way the host does.
  local crt
  for crt in /usr/local/share/ca-certificates/*.crt; do
    [[ -f $crt ]] && "${BUILDAH[@]}" copy "$c" "$crt" /usr/local/share/ca-certificates/ >/dev/null
  done
  "${BUILDAH[@]}" run "$c" -- update-ca-certificates >/dev/null
  "${BUILDAH[@]}" config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
  "${BUILDAH[@]}" commit -q --rm "$c" "$ref" >/dev/null
  echo "build-images: $ref (stand-in)"
}

# docker.io/library/node:<major>-bookworm-slim: the Debian stand-in plus this host's node and npm.
node_base() {
  local major; major=$(node -p 'process.versions.node.split(".")[0]')
  local want; want=$(sed -n 's/^FROM node:\([0-9]*\)-bookworm-slim.*/\1/p' "$REPO/Dockerfile" | head -1)
  [[ $want == "$major" ]] || { echo "build-images: the Dockerfile wants node $want, this host has $major" >&2; exit 1; }
  local ref=docker.io/library/node:$major-bookworm-slim
  has_image "$ref" && return 0
  local npm; npm=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  local c; c=$("${BUILDAH[@]}" from --pull=never docker.io/library/debian:bookworm-slim)
  "${BUILDAH[@]}" copy "$c" "$(readlink -f "$(command -v node)")" /usr/local/bin/node >/dev/null
  "${BUILDAH[@]}" copy "$c" "$npm" /usr/local/lib/node_modules/npm >/dev/null
  "${BUILDAH[@]}" run "$c" -- ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
  "${BUILDAH[@]}" run "$c" -- ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
  "${BUILDAH[@]}" run "$c" -- node --version
  "${BUILDAH[@]}" config --cmd node --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$c"
  "${BUILDAH[@]}" commit -q --rm "$c" "$ref" >/dev/null
  echo "build-images: $ref (stand-in, node $(node --version))"
}

# The poolcsi image, keyed by the content of everything its Dockerfile copies.
poolcsi_key() {
  (cd "$REPO" && find Dockerfile package.json package-lock.json tsconfig.json proto helpers src image -type f -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
}
poolcsi() {
  local key; key=$(poolcsi_key)
  local ref=ghcr.io/poolcsi/poolcsi:lane-$key tar=$IMAGES/poolcsi-$key.tar
  [[ -s $tar ]] && return 0
  debian_base
  node_base
  echo "build-images: poolcsi image $ref"
  # --network host: the build's RUN steps reach the npm registry and Debian's archive.
  "${BUILDAH[@]}" bud -q --pull=never --network host --layers -f "$REPO/Dockerfile" -t "$ref" "$REPO" >/dev/null
  save "$ref" "$tar"
  # Older source states' images (about 760 MB each) are of no further use: keep only this one.
  local old
  for old in "$IMAGES"/poolcsi-*.tar; do [[ $old == "$tar" ]] || rm -f "$old"; done
  for old in $("${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}}' | grep '^ghcr.io/poolcsi/poolcsi:lane-' || true); do
    [[ $old == "$ref" ]] || "${BUILDAH[@]}" rmi "$old" >/dev/null 2>&1 || true
  done
}

# A sidecar: its static binary on an empty image.
sidecar() { # name version [repository]
  local name=$1 v=$2 repo=${3:-registry.k8s.io/sig-storage/$1}
  local ref=$repo:$v tar=$IMAGES/$name-$v.tar bin=$CACHE/bin/$name-$v/$name
  [[ -s $tar ]] && return 0
  [[ -x $bin ]] || { echo "build-images: $bin missing (run build-go.sh)" >&2; exit 1; }
  local c; c=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" copy "$c" "$bin" "/$name" >/dev/null
  "${BUILDAH[@]}" config --entrypoint "[\"/$name\"]" --user 65532:65532 "$c"
  "${BUILDAH[@]}" commit -q --rm "$c" "$ref" >/dev/null
  save "$ref" "$tar"
  echo "build-images: $ref"
}

# Static busybox: the lane's test pods, and the pod sandbox ("pause": sleeps until killed).
busybox() {
  local ref=poolcsi.local/busybox:1 tar=$IMAGES/busybox-1.tar pause=poolcsi.local/pause:1 ptar=$IMAGES/pause-1.tar
  [[ -s $tar && -s $ptar ]] && return 0
  local c; c=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" copy "$c" /bin/busybox /bin/busybox >/dev/null
  "${BUILDAH[@]}" run "$c" -- /bin/busybox --install -s /bin
  "${BUILDAH[@]}" run "$c" -- /bin/mkdir -p /tmp /etc
  "${BUILDAH[@]}" config --cmd '["/bin/sh"]' --env PATH=/bin "$c"
  "${BUILDAH[@]}" commit -q "$c" "$ref" >/dev/null
  "${BUILDAH[@]}" config --cmd '["/bin/sleep","2147483647"]' "$c"
  "${BUILDAH[@]}" commit -q --rm "$c" "$pause" >/dev/null
  save "$ref" "$tar"
  save "$pause" "$ptar"
  echo "build-images: $ref, $pause"
}

for w in "${@:-busybox poolcsi sidecars}"; do for w in $w; do case $w in
  busybox) busybox ;;
  bases) debian_base; node_base ;;
  poolcsi) poolcsi ;;
  poolcsi-key) poolcsi_key ;;
  sidecars)
    sidecar csi-provisioner "$PROVISIONER_VERSION"
    sidecar csi-attacher "$ATTACHER_VERSION"
    sidecar csi-resizer "$RESIZER_VERSION"
    sidecar csi-snapshotter "$SNAPSHOTTER_VERSION" ;;
  *) echo "build-images: unknown $w" >&2; exit 2 ;;
esac; done; done
