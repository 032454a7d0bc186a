// A Runner for a pool's SSH target (pools/ssh.ts). Runners are kept per target, so every pool
// and call that names the same host, user, key and pinned host key shares one connection.
// The private key is read at every connect (a rotated Secret takes effect on the next one);
// a host key from a Secret is read when the runner is asked for.
import { readFile } from 'node:fs/promises';
import { SshRunner } from '../exec/ssh.js';
import type { SshTarget } from '../pools/ssh.js';
import { StorageError } from './errors.js';
import { secretSource, type SecretSource } from './secrets.js';

const runners = new Map<string, SshRunner>();

async function secretValue(ref: { name: string; namespace: string; key: string }, what: string, source: SecretSource): Promise<string> {
  const data = await source.get(ref);
  if (!data) throw new StorageError('precondition', `${what}: Secret ${ref.namespace}/${ref.name} does not exist (looked up in ${source.description})`);
  const v = data[ref.key];
  if (!v) throw new StorageError('precondition', `${what}: Secret ${ref.namespace}/${ref.name} has no key "${ref.key}"`);
  return v;
}

/** The shared runner for `target`; `what` names the pool in errors. */
export async function sshRunnerFor(target: SshTarget, what: string, source: SecretSource = secretSource()): Promise<SshRunner> {
  const hostKey = typeof target.hostKey === 'string' ? target.hostKey : await secretValue(target.hostKey.secretRef, `${what}: host key`, source);
  const id = JSON.stringify([target.host, target.port, target.user, target.privateKey, hostKey.trim(), target.maxSessions, target.timeoutSeconds]);
  const existing = runners.get(id);
  if (existing) return existing;
  const pk = target.privateKey;
  const runner = new SshRunner({
    host: target.host,
    port: target.port,
    user: target.user,
    hostKey,
    maxSessions: target.maxSessions,
    silenceMs: target.timeoutSeconds * 1000,
    privateKey: 'file' in pk
      ? async () => {
        try { return await readFile(pk.file); } catch (e) {
          throw new Error(`cannot read the private key file ${pk.file}: ${(e as Error).message}`);
        }
      }
      : () => secretValue(pk.secretRef, `${what}: private key`, source),
  });
  runners.set(id, runner);
  return runner;
}

/** Closes every shared connection (shutdown, tests). */
export async function closeSshRunners(): Promise<void> {
  const all = [...runners.values()];
  runners.clear();
  await Promise.all(all.map((r) => r.close()));
}
