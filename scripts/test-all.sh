#!/usr/bin/env bash
# Every suite, as CI runs them: the host suites (unit, csi-sanity, chart, the dir reliability
# run), then the lab (real kernels in User-Mode Linux) in three lanes run side by side: the
# longest file (rbd csi-sanity, mount and block) alone, the other long csi-sanity and
# reliability files in a second lane, everything else in a third. Lab nodes mostly wait on their
# guests rather than the CPU, so lanes overlap well. Ends with one line counting all.
set -uo pipefail
cd "$(dirname "$0")/.."
npm run build || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The host suites mount on the host (csi-sanity), so they never overlap the lab's teardown checks.
node --test --test-reporter=tap dist/test/unit/ dist/test/sanity/ dist/test/reliability/dir.test.js | tee "$out/host.tap"
host=${PIPESTATUS[0]}

lane1=(dist/test/lab/rbd-sanity.test.js)
lane2=()
for f in lvm-sanity nfs-sanity nfs-cluster reliability lvm-delegation; do
  [[ -f dist/test/lab/$f.test.js ]] && lane2+=("dist/test/lab/$f.test.js")
done
lane3=()
for f in dist/test/lab/*.test.js; do
  [[ " ${lane1[*]} ${lane2[*]} " == *" $f "* ]] || lane3+=("$f")
done

started=$SECONDS
pids=()
run_lane() { # name files...
  local name=$1; shift
  local t=$SECONDS
  node --test --test-concurrency=1 --test-reporter=tap "$@" >"$out/lab-$name.tap" 2>&1
  local rc=$?
  echo "# lane $name: exit $rc after $((SECONDS - t)) s" >>"$out/lab-$name.tap"
  return $rc
}
run_lane 1 "${lane1[@]}" & pids+=($!)
run_lane 2 "${lane2[@]}" & pids+=($!)
run_lane 3 "${lane3[@]}" & pids+=($!)
lab=0
for p in "${pids[@]}"; do wait "$p" || lab=1; done
for n in 1 2 3; do cat "$out/lab-$n.tap"; done
echo "# lab: $((SECONDS - started)) s"

count() { awk -v k="$1" '$1 == "#" && $2 == k { n += $3 } END { print n + 0 }' "$out"/*.tap; }
echo "$(count pass) passed, $(count fail) failed"
[[ $host == 0 && $lab == 0 ]]
