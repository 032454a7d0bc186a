#!/usr/bin/env bash
# Every suite, as CI runs them: the host suites (unit, csi-sanity, chart), then the lab (real
# kernels in User-Mode Linux) in two lanes: the longest file (rbd csi-sanity, mount and block)
# alone, everything else one file after another. Lab nodes mostly wait on their guests rather
# than the CPU, so two lanes take about half the time of one. Ends with one line counting all.
set -uo pipefail
cd "$(dirname "$0")/.."
npm run build || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The host suites mount on the host (csi-sanity), so they never overlap the lab's teardown checks.
node --test --test-reporter=tap dist/test/unit/ dist/test/sanity/ dist/test/reliability/dir.test.js | tee "$out/host.tap"
host=${PIPESTATUS[0]}

long=dist/test/lab/rbd-sanity.test.js
rest=()
for f in dist/test/lab/*.test.js; do [[ $f == "$long" ]] || rest+=("$f"); done
node --test --test-reporter=tap "$long" >"$out/lab-long.tap" 2>&1 &
long_pid=$!
node --test --test-concurrency=1 --test-reporter=tap "${rest[@]}" | tee "$out/lab.tap"
lab=${PIPESTATUS[0]}
wait "$long_pid"
lab_long=$?
cat "$out/lab-long.tap"

count() { awk -v k="$1" '$1 == "#" && $2 == k { n += $3 } END { print n + 0 }' "$out"/*.tap; }
echo "$(count pass) passed, $(count fail) failed"
[[ $host == 0 && $lab == 0 && $lab_long == 0 ]]
