// Defects the harness has found that are not fixed yet, each named so a CI run stays green on
// them while any other problem fails it. Remove an entry when its fix lands (the lead reruns the
// seeds named here); an entry that no longer matches anything is reported as a diagnostic.
export interface Known { id: string; match: RegExp; what: string; found: string }

export const KNOWN: Known[] = [

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
