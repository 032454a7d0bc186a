// Mutual TLS material for the agent protocol: a directory laid out like a Kubernetes TLS
// Secret (ca.crt, tls.crt, tls.key), as the chart mounts it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';

export interface TlsFiles { ca: Buffer; cert: Buffer; key: Buffer }

export async function readTlsDir(dir: string): Promise<TlsFiles> {
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

/** Server side: a client certificate signed by the CA is required. */
export function serverCredentials(t: TlsFiles): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(t.ca, [{ cert_chain: t.cert, private_key: t.key }], true);
}

export function clientCredentials(t: TlsFiles): grpc.ChannelCredentials {
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
