#!/usr/bin/env bash
# Builds the Kubernetes binaries and the CSI sidecars the k8s lane runs, from the Go module proxy,
# into a cache OUTSIDE the repository keyed by name and version:
#   $POOLCSI_K8S_CACHE/bin/<name>-<version>/<name>     (default /var/tmp/poolcsi-cache/k8s)
# A binary already in the cache is not rebuilt, so a warm run costs nothing.
#
# k8s.io/kubernetes and several sidecars carry `replace` directives (staging modules, a local
# client submodule), so `go install mod@version` refuses them; each is built through a small
# wrapper module generated here that requires it and turns every local replace into the published
# version. The wrapper lives in the cache too ($CACHE/src/<name>-<version>).
#
# Usage: build-go.sh [what...]   what: kubernetes provisioner attacher resizer snapshotter
# Versions come from versions.env beside this script (the chart's pins must match them).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$HERE/versions.env"
export PATH=$PATH:/usr/local/go/bin
CACHE=${POOLCSI_K8S_CACHE:-/var/tmp/poolcsi-cache/k8s}
export CGO_ENABLED=0
mkdir -p "$CACHE/bin" "$CACHE/src"

have() { [[ -x $CACHE/bin/$1-$2/$1 ]]; }

# wrapper <dir> <module> <version> <local-replace-version> [extra old=>new@ver...]
# Writes go.mod requiring module@version, copying its replaces; a replace pointing at a local
# directory becomes "<path> <local-replace-version>" (the published module of that path).
wrapper() {
  local dir=$1 mod=$2 ver=$3 localver=$4; shift 4
  mkdir -p "$dir"
  local modfile
  modfile=$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "$mod@$ver" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).GoMod))')
  go mod edit -json "$modfile" | node -e '
    const [mod, ver, localver, ...extra] = process.argv.slice(1);
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      const m = JSON.parse(s), out = [`module poolcsi.local/k8swrap`, ``, `go ${m.Go}`, ``];
      for (const g of m.Godebug ?? []) out.push(`godebug ${g.Key}=${g.Value}`);
      out.push(``, `require ${mod} ${ver}`, ``);
      const seen = new Set();
      for (const r of m.Replace ?? []) {
        const old = r.Old.Path;
        if (seen.has(old)) continue;
        seen.add(old);
        if (r.New.Version) out.push(`replace ${old} => ${r.New.Path} ${r.New.Version}`);
        else if (localver) out.push(`replace ${old} => ${old} ${localver}`);
      }
      for (const x of extra) { const [o, n] = x.split("=>"); const [p, v] = n.split("@"); out.push(`replace ${o} => ${p} ${v}`); }
      console.log(out.join("\n"));
    });' "$mod" "$ver" "$localver" "$@" > "$dir/go.mod"
}

# build <dir> <ldflags> <out-dir> <pkg...>: one `go build` for several commands shares compiles.
build() {
  local dir=$1 ld=$2 out=$3; shift 3
  local s; s=$(date +%s)
  { echo '//go:build tools'; echo; echo 'package k8swrap'; echo; echo 'import ('
    for p in "$@"; do echo "	_ \"$p\""; done; echo ')'; } > "$dir/tools.go"
  echo 'package k8swrap' > "$dir/doc.go"
  (cd "$dir" && go mod tidy && mkdir -p "$out" && go build -trimpath -ldflags "-s -w $ld" -o "$out/" "$@")
  echo "build-go: built $* in $(( $(date +%s) - s ))s"
}

kubernetes() {
  local v=$K8S_VERSION cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl) todo=()
  for c in "${cmds[@]}"; do have "$c" "$v" || todo+=("$c"); done
  ((${#todo[@]})) || return 0
  local dir=$CACHE/src/kubernetes-$v staging=v0.${v#v1.} minor; minor=$(cut -d. -f2 <<<"$v")
  wrapper "$dir" k8s.io/kubernetes "$v" "$staging"
  local ld="" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  local pkgs=(); for c in "${todo[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  build "$dir" "$ld" "$dir/out" "${pkgs[@]}"
  for c in "${todo[@]}"; do mkdir -p "$CACHE/bin/$c-$v"; mv "$dir/out/$c" "$CACHE/bin/$c-$v/$c"; done
}

# sidecar <name> <module> <version> <cmd...> [-- extra replaces]
sidecar() {
  local name=$1 mod=$2 v=$3; shift 3
  local cmds=() extra=() todo=()
  while (($#)) && [[ $1 != -- ]]; do cmds+=("$1"); shift; done
  (($#)) && shift && extra=("$@")
  for c in "${cmds[@]}"; do have "$c" "$v" || todo+=("$c"); done
  ((${#todo[@]})) || return 0
  local dir=$CACHE/src/$name-$v
  wrapper "$dir" "$mod" "$v" "" "${extra[@]}"
  local pkgs=(); for c in "${todo[@]}"; do pkgs+=("$mod/cmd/$c"); done
  build "$dir" "-X main.version=$v" "$dir/out" "${pkgs[@]}"
  for c in "${todo[@]}"; do mkdir -p "$CACHE/bin/$c-$v"; mv "$dir/out/$c" "$CACHE/bin/$c-$v/$c"; done
}

K=github.com/kubernetes-csi
for w in "${@:-kubernetes provisioner attacher resizer snapshotter}"; do for w in $w; do case $w in
  kubernetes)  kubernetes ;;
  provisioner) sidecar provisioner $K/external-provisioner/v6 "$PROVISIONER_VERSION" csi-provisioner ;;
  attacher)    sidecar attacher $K/external-attacher/v4 "$ATTACHER_VERSION" csi-attacher ;;
  resizer)     sidecar resizer $K/external-resizer/v2 "$RESIZER_VERSION" csi-resizer ;;
  snapshotter) sidecar snapshotter $K/external-snapshotter/v8 "$SNAPSHOTTER_VERSION" csi-snapshotter snapshot-controller -- \
                 "$K/external-snapshotter/client/v8=>$K/external-snapshotter/client/v8@$SNAPSHOTTER_VERSION" ;;
  *) echo "build-go: unknown $w" >&2; exit 2 ;;
esac; done; done
