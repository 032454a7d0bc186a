# Sourced by every service script. A service script exits 0 once its service is ready and
# non-zero (with the reason and its daemons' log tails on stderr) otherwise; the harness
# also bounds it with the service's deadline.
set -eu

# wait_for SECONDS WHAT CMD...: poll CMD until it succeeds; fail after SECONDS.
wait_for() {
  limit=$1 what=$2
  shift 2
  end=$(($(date +%s) + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "timed out after ${limit}s waiting for $what" >&2
      return 1
    fi
    sleep 0.1
  done
}

# daemon NAME CMD...: run CMD in the background, its output in $LAB_LOG_DIR/NAME.log
# (on the host, so the harness can show it even after the node is gone).
daemon() {
  name=$1
  shift
  "$@" </dev/null >>"$LAB_LOG_DIR/$name.log" 2>&1 &
}

# show_logs_on_failure FILE...: when the script fails, print the tails of these logs.
show_logs_on_failure() {
  LAB_FAIL_LOGS="$*"
  trap 'rc=$?; if [ $rc -ne 0 ]; then for f in $LAB_FAIL_LOGS; do [ -f "$f" ] && { echo "--- tail of $f" >&2; tail -n 30 "$f" >&2; }; done; fi; exit $rc' EXIT
}

load_modules() {
  for m in "$@"; do
    modprobe "$m" || { echo "modprobe $m failed" >&2; return 1; }
  done
}
