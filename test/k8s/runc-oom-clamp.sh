#!/bin/sh
# containerd's runtime binary for the k8s lane: runc, after clamping a negative
# process.oomScoreAdj in the bundle's config.json to 0. Root on these machines lacks
# CAP_SYS_RESOURCE, so runc's init cannot lower oom_score_adj (CRI asks -998 for sandboxes) and
# every pod fails with "can't get final child's PID from pipe: EOF".
bundle=
prev=
for a in "$@"; do
  [ "$prev" = --bundle ] && bundle=$a
  case $a in --bundle=*) bundle=${a#--bundle=} ;; esac
  prev=$a
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  node -e '
    const fs = require("fs"); const f = process.argv[1];
    const c = JSON.parse(fs.readFileSync(f, "utf8"));
    if (c.process && c.process.oomScoreAdj < 0) { c.process.oomScoreAdj = 0; fs.writeFileSync(f, JSON.stringify(c)); }
  ' "$bundle/config.json" || exit 1
fi
exec /usr/sbin/runc "$@"
