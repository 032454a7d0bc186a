// Logging: one pino root logger, JSON lines on stderr. Secrets are removed before a
// value reaches the logger (redactSecrets) and pino's own redaction catches the known paths.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const REDACTED = '[REDACTED]';

// Keys whose values are secret wherever they appear (CSI `secrets` maps, keyrings, CHAP).
const SECRET_KEY = /^(secrets?|userKey|key|keyring|password|passwd|token|chap.*secret|.*Secret|privateKey|passphrase|node\.session\.auth\.password(_in)?)$/i;

/** Deep copy of `value` with every secret-bearing field replaced. Safe on cycles. */
export function redactSecrets(value: unknown, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (SECRET_KEY.test(k)) {
      out[k] = v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.keys(v).map((name) => [name, REDACTED]))
        : REDACTED;
    } else {
      out[k] = redactSecrets(v, seen);
    }
  }
  return out;
}

export interface LogOptions { level?: string; destination?: DestinationStream }

export function createLogger(opts: LogOptions = {}): Logger {
  return pino(
    {
      name: 'poolcsi',
      level: opts.level ?? process.env.POOLCSI_LOG_LEVEL ?? 'info',
      redact: { paths: ['secrets', '*.secrets', '*.*.secrets', 'userKey', '*.userKey'], censor: REDACTED },
      base: { pid: process.pid },
    },
    opts.destination ?? pino.destination(2),
  );
}

let root: Logger = createLogger();

export function logger(): Logger { return root; }
export function setLogger(l: Logger): void { root = l; }
