// Mutual TLS material for the agent protocol: a directory laid out like a Kubernetes TLS
// Secret (ca.crt, tls.crt, tls.key), as the chart mounts it. cert-manager renews the Secret and
// kubelet swaps the mounted files (a symlink swap), so the files are re-read while serving:
// new connections use the new certificates, connections already open keep theirs.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { logger } from '../observe/log.js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

export interface TlsFiles {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** Set when read from a directory: follows renewals of the files. */
  watcher?: TlsWatcher;
}

/** How often the files are compared with what is in use. kubelet itself takes up to a minute or
 * two to project a renewed Secret, so this adds little. */
export const TLS_REFRESH_MS = 30_000;

async function readSet(dir: string): Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> {
  const read = async (name: string) => {
    try {
      return await readFile(join(dir, name));
    } catch (e) {
      throw new Error(`--agent-tls-dir ${dir}: cannot read ${name} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); expected ca.crt, tls.crt and tls.key`);
    }
  };
  const [ca, cert, key] = await Promise.all([read('ca.crt'), read('tls.crt'), read('tls.key')]);
  return { ca, cert, key };
}

/** Whether the key belongs to the certificate (a read between two renewals could mix them). */
function consistent(s: { cert: Buffer; key: Buffer }): boolean {
  try {
    return new X509Certificate(s.cert).checkPrivateKey(createPrivateKey(s.key));
  } catch {
    return false;
  }
}

/** Reads the directory now and keeps following it (see TlsWatcher). */
export async function readTlsDir(dir: string, refreshMs = TLS_REFRESH_MS): Promise<TlsFiles> {
  const set = await readSet(dir);
  if (!consistent(set)) throw new Error(`--agent-tls-dir ${dir}: tls.key does not belong to tls.crt (or one of them is not PEM)`);
  return { ...set, watcher: new TlsWatcher(dir, set, refreshMs) };
}

/** A grpc-js certificate provider over a TLS directory: while credentials built on it are in
 * use, it re-reads the files every `refreshMs` and passes on a changed, consistent set. */
export class TlsWatcher implements CertificateProvider {
  private timer: NodeJS.Timeout | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private checking = false;

  constructor(readonly dir: string, private current: { ca: Buffer; cert: Buffer; key: Buffer }, private readonly refreshMs: number) {}

  /** Compares the files with the set in use; passes a changed, consistent set to every listener. */
  async check(): Promise<boolean> {
    if (this.checking) return false;
    this.checking = true;
    try {
      const next = await readSet(this.dir);
      if (next.ca.equals(this.current.ca) && next.cert.equals(this.current.cert) && next.key.equals(this.current.key)) return false;
      if (!consistent(next)) {
        logger().warn({ dir: this.dir }, 'agent TLS files changed but tls.key does not match tls.crt (yet); keeping the certificates in use');
        return false;
      }
      this.current = next;
      logger().info({ dir: this.dir, validTo: new X509Certificate(next.cert).validTo }, 'agent TLS certificates reloaded');
      for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
      for (const l of this.caListeners) l({ caCertificate: next.ca });
      return true;
    } catch (e) {
      logger().warn({ dir: this.dir, err: (e as Error).message }, 'cannot re-read the agent TLS files; keeping the certificates in use');
      return false;
    } finally {
      this.checking = false;
    }
  }

  private follow(): void {
    if (this.timer) return;
    this.timer = setInterval(() => { void this.check(); }, this.refreshMs);
    this.timer.unref();
  }

  private maybeStop(): void {
    if (this.caListeners.size || this.identityListeners.size || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    this.follow();
    process.nextTick(l, { caCertificate: this.current.ca });
  }

  removeCaCertificateListener(l: CaListener): void { this.caListeners.delete(l); this.maybeStop(); }

  addIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.add(l);
    this.follow();
    process.nextTick(l, { certificate: this.current.cert, privateKey: this.current.key });
  }

  removeIdentityCertificateListener(l: IdentityListener): void { this.identityListeners.delete(l); this.maybeStop(); }
}

/** Server side: a client certificate signed by the CA is required. */
export function serverCredentials(t: TlsFiles): grpc.ServerCredentials {
  if (t.watcher) return grpc.experimental.createCertificateProviderServerCredentials(t.watcher, t.watcher, true);
  return grpc.ServerCredentials.createSsl(t.ca, [{ cert_chain: t.cert, private_key: t.key }], true);
}

export function clientCredentials(t: TlsFiles): grpc.ChannelCredentials {
  if (t.watcher) return grpc.experimental.createCertificateProviderChannelCredentials(t.watcher, t.watcher);
  return grpc.credentials.createSsl(t.ca, t.key, t.cert);
}

/** The DNS names and common name a peer certificate carries. */
export function certificateNames(cert: { subject?: { CN?: string | string[] }; subjectaltname?: string } | undefined): string[] {
  if (!cert) return [];
  const cn = cert.subject?.CN;
  const names = Array.isArray(cn) ? [...cn] : cn ? [cn] : [];
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*DNS:(.+)$/.exec(part);
    if (m) names.push(m[1]!.trim());
  }
  return [...new Set(names)];
}
