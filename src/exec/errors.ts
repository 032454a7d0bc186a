// The structured failure of a program run. Backends map these to CSI codes.
export class ExecError extends Error {
  constructor(
    readonly program: string,
    readonly args: readonly string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
    readonly stdout: string,
    readonly reason: 'exit' | 'timeout' | 'not-found' | 'signal' | 'spawn',
    readonly host?: string,
  ) {
    const where = host ? ` on ${host}` : '';
    const what = reason === 'timeout' ? 'timed out'
      : reason === 'not-found' ? 'is not installed (not found in PATH)'
      : reason === 'signal' ? 'was killed by a signal'
      : reason === 'spawn' ? 'could not be started'
      : `exited with code ${exitCode}`;
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    super(`${program}${where} ${what}${tail ? `: ${tail}` : ''}`);
    this.name = 'ExecError';
  }

  /** True when stderr (or stdout) mentions any of the given fragments, case-insensitively. */
  mentions(...fragments: string[]): boolean {
    const text = `${this.stderr}\n${this.stdout}`.toLowerCase();
    return fragments.some((f) => text.includes(f.toLowerCase()));
  }
}
