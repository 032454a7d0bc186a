// Defects the harness has found that are not fixed yet, each named so a CI run stays green on
// them while any other problem fails it. Remove an entry when its fix lands (the lead reruns the
// seeds named here); an entry that no longer matches anything is reported as a diagnostic.
export interface Known { id: string; match: RegExp; what: string; found: string }

export const KNOWN: Known[] = [
  {
    id: 'dir-statefile-tmp',
    match: /^dir crash seed \d+: (stray|left after the CO deleted everything): (volumes|snapshots)\/[^ ]+\.json\.[0-9a-f]{8}\.tmp$/,
    what: 'SIGKILL between writing a state file\'s temporary copy and its rename leaves <name>.json.<hex>.tmp behind; nothing removes it (src/backends/statefile.ts writeState)',
    found: 'npm run test:reliability -- --types dir --ops 60 --seed 1',
  },
  {
    id: 'dir-delete-after-kill',
    match: /^dir crash seed \d+: (stray|left after the CO deleted everything): (volumes|snapshots)\/[^ ]+ \(state says incomplete\)$/,
    what: 'SIGKILL inside DeleteSnapshot (or DeleteVolume) leaves the state file marked not ready; the CO\'s retry finds no ready object through the router and answers OK without deleting, so the half-deleted object stays forever',
    found: 'node dist/test/reliability/run.js --type dir --ops 120 --seed 7 --fuzz 0 (snapshot rel-7-3@snapshot-7-13)',
  },
  {
    id: 'rbd-outage-first-wave',
    match: /^rbd outage: at-rest (.+: answered after \d+ ms, the pool's timeout is \d+ s|ListVolumes after \d+ ms)$/,
    what: 'the calls already in flight when the monitors are found away answer after the tools\' connect timeout plus their process starts (six at once on the lab node\'s one CPU: 7.7 s for a 5 s timeout); later calls answer in under 0.5 s',
    found: 'REL_UNVERIFIED=1 node --test --test-name-pattern="monitors down" dist/test/lab/reliability.test.js (2026-12-02)',
  },
  {
    id: 'status-echoes-unbounded-input',
    match: /fuzz seed \d+ #\d+ [A-Za-z.]+: answered in \d+ ms \(bound \d+ ms\): DEADLINE_EXCEEDED/,
    what: 'an error message quotes a client value whole (a 47 KB starting_token): the grpc-message trailer outgrows the client\'s header limit, the call hangs to its deadline and the connection stalls for the next calls',
    found: 'npm run test:reliability -- --types dir --ops 0 --fuzz 2000 --seed 3 (#440 ListVolumes)',
  },
];

/** Splits problems into known ones (with their entry) and new ones. */
export function classify(problems: string[]): { known: Array<{ problem: string; id: string }>; fresh: string[]; unused: string[] } {
  const known: Array<{ problem: string; id: string }> = [];
  const fresh: string[] = [];
  for (const p of problems) {
    const k = KNOWN.find((x) => x.match.test(p));
    if (k) known.push({ problem: p, id: k.id }); else fresh.push(p);
  }
  const used = new Set(known.map((k) => k.id));
  return { known, fresh, unused: KNOWN.filter((k) => !used.has(k.id)).map((k) => k.id) };
}
