// Test certificates for the agent protocol's mutual TLS, made with openssl (node:crypto cannot
// issue X.509 certificates). Each identity is a directory laid out like a Kubernetes TLS
// Secret: ca.crt, tls.crt, tls.key.
import { mkdir, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { local } from '../../src/exec/index.js';

const ossl = (args: string[], cwd: string) => local.run('openssl', args, { cwd, timeoutMs: 30_000 });
const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA in `dir` (ca.crt, ca.key). */
export async function makeCa(dir: string, name = 'poolcsi-test-ca'): Promise<string> {
  await mkdir(dir, { recursive: true });
  await ossl(['req', '-x509', ...KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return dir;
}

/** A certificate for `name` (CN and DNS SAN) signed by the CA in `caDir`, written to `dir`, trusting
 * the CA in `trustDir` (default: the same). */
export async function makeIdentity(caDir: string, dir: string, name: string, trustDir = caDir): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ext.cnf'), `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
  await ossl(['req', ...KEY, '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', `/CN=${name}`], dir);
  await ossl(['x509', '-req', '-in', 'tls.csr', '-CA', join(caDir, 'ca.crt'), '-CAkey', join(caDir, 'ca.key'), '-CAcreateserial',
    '-out', 'tls.crt', '-days', '2', '-extfile', 'ext.cnf'], dir);
  await copyFile(join(trustDir, 'ca.crt'), join(dir, 'ca.crt'));
  return dir;
}

export interface AgentPki {
  /** The agent's server identity (poolcsi-agent). */
  agent: string;
  /** The controller's client identity (poolcsi-controller). */
  controller: string;
  /** Signed by the right CA, but naming someone else. */
  wrongName: string;
  /** Named poolcsi-controller and trusting the right CA, but signed by another CA. */
  wrongCa: string;
}

export async function makeAgentPki(root: string): Promise<AgentPki> {
  const ca = await makeCa(join(root, 'ca'));
  const rogue = await makeCa(join(root, 'rogue-ca'), 'rogue-ca');
  return {
    agent: await makeIdentity(ca, join(root, 'agent'), 'poolcsi-agent'),
    controller: await makeIdentity(ca, join(root, 'controller'), 'poolcsi-controller'),
    wrongName: await makeIdentity(ca, join(root, 'wrong-name'), 'some-node'),
    wrongCa: await makeIdentity(rogue, join(root, 'wrong-ca'), 'poolcsi-controller', ca),
  };
}
