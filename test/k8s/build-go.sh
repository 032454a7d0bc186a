#!/usr/bin/env bash
# Builds the Kubernetes binaries and the CSI sidecars the k8s lane runs, from the Go module proxy,
# into a cache OUTSIDE the repository keyed by name and version:
#   $POOLCSI_K8S_CACHE/bin/<name>-<version>/<name>     (default /var/tmp/poolcsi-cache/k8s)
# A binary already in the cache is not rebuilt, so a warm run costs nothing.
#
# k8s.io/kubernetes and several sidecars carry `replace` directives (staging modules, a local
# client submodule), so `go install mod@version` refuses them; they are built through small
# wrapper modules generated here that require them and turn every local replace into the
# published version: one for Kubernetes, one shared by the four sidecars. The wrappers live in
# the cache too ($CACHE/src/kubernetes-<version>, $CACHE/src/sidecars-<versions>).
#
# Concurrent runs (CI runs the k8s lane beside lab tests that want kube-apiserver) never build
# the same thing at once: Kubernetes and the sidecars each build under a lock file in the cache
# ($CACHE/.lock-kubernetes, $CACHE/.lock-sidecars); a second run waits for it, then finds the
# binaries cached.
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

# lock <name>: take $CACHE/.lock-<name> (flock; waits while another run holds it) for the rest
# of the calling function's build; unlock releases it. The caller checks the cache again after.
lock() {
  exec {lock_fd}>"$CACHE/.lock-$1"
  flock -n "$lock_fd" || { echo "build-go: waiting for another build of $1 ($CACHE/.lock-$1)" >&2; flock "$lock_fd"; }
}
unlock() { exec {lock_fd}>&-; }

# wrapper <dir> <local-replace-version> <module@version...> [-- extra old=>new@ver...]
# Writes one go.mod requiring every module@version, with the union of their replaces (the higher
# version where two disagree). A replace pointing at a local directory becomes
# "<path> <local-replace-version>" (the published module of that path), or is dropped when that
# is empty. One wrapper for several modules means one version of every shared dependency, so
# each package compiles once for all of them.
wrapper() {
  local dir=$1 localver=$2; shift 2
  local mods=() extra=()
  while (($#)) && [[ $1 != -- ]]; do mods+=("$1"); shift; done
  (($#)) && shift && extra=("$@")
  mkdir -p "$dir"
  local m modfile jsons=()
  for m in "${mods[@]}"; do
    modfile=$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "$m" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).GoMod))')
    jsons+=("$(go mod edit -json "$modfile")")
  done
  node -e '
    const [localver, nmods, ...rest] = process.argv.slice(1);
    const mods = rest.slice(0, +nmods), jsons = rest.slice(+nmods, 2 * +nmods), extra = rest.slice(2 * +nmods);
    // semver order, enough for Go module versions (pseudo-versions sort by their base).
    const key = (v) => v.replace(/^v/, "").split(/[-+]/)[0].split(".").map(Number);
    const newer = (a, b) => { const x = key(a), y = key(b); for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0); return a > b; };
    let go = "1.0"; const godebug = new Map(), replace = new Map();
    for (const j of jsons) {
      const m = JSON.parse(j);
      if (newer("v" + m.Go, "v" + go)) go = m.Go;
      for (const g of m.Godebug ?? []) if (!godebug.has(g.Key)) godebug.set(g.Key, g.Value);
      for (const r of m.Replace ?? []) {
        const old = r.Old.Path;
        const to = r.New.Version ? { path: r.New.Path, version: r.New.Version } : localver ? { path: old, version: localver } : undefined;
        if (!to) continue;
        const had = replace.get(old);
        if (!had || (had.path === to.path && newer(to.version, had.version))) replace.set(old, to);
      }
    }
    for (const x of extra) { const [o, n] = x.split("=>"); const [p, v] = n.split("@"); replace.set(o, { path: p, version: v }); }
    const out = ["module poolcsi.local/k8swrap", "", `go ${go}`, ""];
    for (const [k, v] of godebug) out.push(`godebug ${k}=${v}`);
    out.push("");
    for (const m of mods) { const [p, v] = m.split("@"); out.push(`require ${p} ${v}`); }
    out.push("");
    for (const [o, t] of [...replace].sort()) out.push(`replace ${o} => ${t.path} ${t.version}`);
    console.log(out.join("\n"));
  ' "$localver" "${#mods[@]}" "${mods[@]}" "${jsons[@]}" "${extra[@]}" > "$dir/go.mod"
}

# tools <dir> <pkg...>: the wrapper imports the commands, so `go mod tidy` keeps their deps.
tools() {
  local dir=$1; shift
  { echo '//go:build tools'; echo; echo 'package k8swrap'; echo; echo 'import ('
    for p in "$@"; do echo "	_ \"$p\""; done; echo ')'; } > "$dir/tools.go"
  echo 'package k8swrap' > "$dir/doc.go"
  (cd "$dir" && go mod tidy)
}

# build <dir> <ldflags> <out-dir> <pkg...>: one `go build` for several commands shares compiles.
build() {
  local dir=$1 ld=$2 out=$3; shift 3
  local s; s=$(date +%s)
  mkdir -p "$out"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ld" -o "$out/" "$@")
  echo "build-go: built $* in $(( $(date +%s) - s ))s"
}

kubernetes() {
  local v=$K8S_VERSION cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl) todo=()
  for c in "${cmds[@]}"; do have "$c" "$v" || todo+=("$c"); done
  ((${#todo[@]})) || return 0
  lock kubernetes
  todo=(); for c in "${cmds[@]}"; do have "$c" "$v" || todo+=("$c"); done
  ((${#todo[@]})) || { unlock; return 0; }
  local dir=$CACHE/src/kubernetes-$v staging=v0.${v#v1.} minor; minor=$(cut -d. -f2 <<<"$v")
  wrapper "$dir" "$staging" "k8s.io/kubernetes@$v"
  local ld="" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  local pkgs=(); for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  tools "$dir" "${pkgs[@]}"
  pkgs=(); for c in "${todo[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  build "$dir" "$ld" "$dir/out" "${pkgs[@]}"
  for c in "${todo[@]}"; do mkdir -p "$CACHE/bin/$c-$v"; mv "$dir/out/$c" "$CACHE/bin/$c-$v/$c"; done
  unlock
}

K=github.com/kubernetes-csi
# The sidecars: <what> <module> <version> <commands...>
SIDECARS=(
  "provisioner $K/external-provisioner/v6 $PROVISIONER_VERSION csi-provisioner"
  "attacher $K/external-attacher/v4 $ATTACHER_VERSION csi-attacher"
  "resizer $K/external-resizer/v2 $RESIZER_VERSION csi-resizer"
  "snapshotter $K/external-snapshotter/v8 $SNAPSHOTTER_VERSION csi-snapshotter snapshot-controller"
)

# sidecars <what...>: every sidecar asked for and not in the cache, from ONE wrapper module
# (keyed by all their versions), then one `go build` per sidecar (each stamps its own version;
# the packages compiled for the first are reused by the rest).
sidecars() {
  local want=" $* " line name mod v cmds c todo=() mods=() extra=() pkgs=() key=""
  for line in "${SIDECARS[@]}"; do
    read -r name mod v cmds <<<"$line"
    mods+=("$mod@$v"); key+="$name-$v."
    for c in $cmds; do pkgs+=("$mod/cmd/$c"); done
    [[ $want == *" $name "* ]] || continue
    for c in $cmds; do have "$c" "$v" || { todo+=("$line"); break; }; done
  done
  ((${#todo[@]})) || return 0
  lock sidecars
  # The snapshotter's local client/v8 replace: the published submodule of the same version.
  extra=("$K/external-snapshotter/client/v8=>$K/external-snapshotter/client/v8@$SNAPSHOTTER_VERSION")
  local dir=$CACHE/src/sidecars-${key%.} missing
  if [[ ! -f $dir/go.sum ]]; then
    wrapper "$dir" "" "${mods[@]}" -- "${extra[@]}"
    tools "$dir" "${pkgs[@]}"
  fi
  for line in "${todo[@]}"; do
    read -r name mod v cmds <<<"$line"
    # Built meanwhile by the run that held the lock?
    missing=; for c in $cmds; do have "$c" "$v" || missing=1; done
    [[ -n $missing ]] || continue
    pkgs=(); for c in $cmds; do pkgs+=("$mod/cmd/$c"); done
    build "$dir" "-X main.version=$v" "$dir/out" "${pkgs[@]}"
    for c in $cmds; do mkdir -p "$CACHE/bin/$c-$v"; mv "$dir/out/$c" "$CACHE/bin/$c-$v/$c"; done
  done
  unlock
}

what=()
for w in "${@:-kubernetes provisioner attacher resizer snapshotter}"; do for w in $w; do case $w in
  kubernetes|provisioner|attacher|resizer|snapshotter) what+=("$w") ;;
  *) echo "build-go: unknown $w" >&2; exit 2 ;;
esac; done; done
[[ " ${what[*]} " == *" kubernetes "* ]] && kubernetes
sidecars "${what[@]}"
