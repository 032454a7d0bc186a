#!/usr/bin/env bash
# Every suite, as CI runs them: the host suites (unit, csi-sanity, chart, the dir reliability
# run), then the lab (real kernels in User-Mode Linux) with the k8s lane beside it: the lab's
# files run three at a time from one queue, longest first. Lab nodes mostly wait on their guests
# rather than the CPU, so files overlap well. Ends with one line counting all.
set -uo pipefail
cd "$(dirname "$0")/.."
npm run build || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The host suites mount on the host (csi-sanity), so they never overlap the lab's teardown checks.
node --test --test-reporter=tap dist/test/unit/ dist/test/sanity/ dist/test/reliability/dir.test.js | tee "$out/host.tap"
host=${PIPESTATUS[0]}

# The lab: WORKERS runners take files from one queue, longest first. The order comes from the
# last run's per-file times (kept outside the repository, in the cache); files without a time
# (or with seconds only: skipped then) go first, so a new long file cannot end up last; on a
# machine without times the known long files lead (csi-sanity, cli, rbd-cluster, reliability; a fresh machine ran cli last, 1164 s),
# zfs-iscsi first of all: on a fresh machine it builds the ZFS guest's image (about 10 minutes).
# Each file's wall time is printed.
workers=${LAB_WORKERS:-3}
cache=${POOLCSI_CACHE:-/var/tmp/poolcsi-cache}
times=$cache/lab-times.tsv
mkdir -p "$cache"
touch "$times"
files=$(for f in dist/test/lab/*.test.js; do
  b=$(basename "$f" .test.js)
  t=$(awk -v b="$b" '$1 == b { print $2 }' "$times" | tail -1)
  if [[ -s $times ]]; then
    t=${t:-100000}
    # A file that took seconds was skipped last time (opt-in then): its time is unknown.
    ((t >= 5)) || t=100000
  else
    case $b in zfs-iscsi) t=4000 ;; rbd-sanity) t=3000 ;; lvm-sanity) t=2500 ;; cli | rbd-cluster | iscsi-sanity | nfs-sanity | reliability | reliability-shared) t=1500 ;; *) t=0 ;; esac
  fi
  echo "$t $f"
done | sort -rn | awk '{ print $2 }')
echo "$files" >"$out/queue"
echo 0 >"$out/next"

started=$SECONDS
# The k8s lane (test/k8s: a real single-node Kubernetes, the chart installed by helm, PVCs in
# pods) runs beside the lab's workers: it needs no UML and mostly waits on its cluster. Its
# builds are cached outside the repository (warm: about a minute). POOLCSI_SKIP_K8S=1 leaves it out.
k8s_pid=
if [[ ${POOLCSI_SKIP_K8S:-} != 1 ]]; then
  (
    t=$SECONDS
    node --test --test-concurrency=1 --test-reporter=tap dist/test/k8s/ >"$out/k8s.tap" 2>&1
    rc=$?
    echo "# file k8s: exit $rc after $((SECONDS - t)) s" >>"$out/k8s.tap"
    echo "k8s $((SECONDS - t)) $rc" >"$out/k8s.time"
  ) &
  k8s_pid=$!
fi
worker() { # takes the next file from the queue until none is left
  local n f t rc
  while :; do
    n=$(flock "$out/next" bash -c 'n=$(cat "$1"); echo $((n + 1)) >"$1"; echo "$n"' _ "$out/next")
    f=$(sed -n "$((n + 1))p" "$out/queue")
    [[ -n $f ]] || return 0
    t=$SECONDS
    node --test --test-reporter=tap "$f" >"$out/lab-$(basename "$f" .test.js).tap" 2>&1
    rc=$?
    echo "# file $(basename "$f" .test.js): exit $rc after $((SECONDS - t)) s" >>"$out/lab-$(basename "$f" .test.js).tap"
    echo "$(basename "$f" .test.js) $((SECONDS - t)) $rc" >>"$out/times"
  done
}
pids=()
for ((w = 0; w < workers; w++)); do worker & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
lab=0
for f in $files; do
  tap=$out/lab-$(basename "$f" .test.js).tap
  cat "$tap"
  grep -q "^# file .*: exit 0 after" "$tap" || lab=1
done
k8s=0
if [[ -n $k8s_pid ]]; then
  wait "$k8s_pid"
  cat "$out/k8s.tap"
  grep -q "^# file k8s: exit 0 after" "$out/k8s.tap" || k8s=1
  cat "$out/k8s.time" >>"$out/times"
fi
# Keep this run's times for the next run's order (latest line per file wins), and its TAP
# files for a post-mortem (CI prints only a part of them; the lab's artifacts hold the logs).
cat "$out/times" >>"$times"
rm -rf "$cache/last-run" && mkdir -p "$cache/last-run" && cp "$out"/*.tap "$out/times" "$cache/last-run/"
tail -n 200 "$times" >"$times.new" && mv "$times.new" "$times"
echo "# lab and k8s lane: $((SECONDS - started)) s with $workers lab workers"
sort -k2 -rn "$out/times" | awk '{ printf "#   %-22s %5d s  exit %d\n", $1, $2, $3 }'

count() { awk -v k="$1" '$1 == "#" && $2 == k { n += $3 } END { print n + 0 }' "$out"/*.tap; }
echo "$(count pass) passed, $(count fail) failed"
[[ $host == 0 && $lab == 0 && $k8s == 0 ]]
