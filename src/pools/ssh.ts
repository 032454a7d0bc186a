// The SSH target of a pool whose storage lives on another host (nfs server agent, iSCSI storage
// hosts): where to connect, with which key, and which host key to expect. Pool types embed
// `ssh: SshTargetSchema`; backends/ssh.ts turns it into a Runner.
import { z } from 'zod';
import { parseHostKey } from '../exec/ssh.js';

const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
// A DNS name, an IPv4 address, or an IPv6 address in brackets.
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$/;

const secretKeyRef = (defaultKey: string) => z.strictObject({
  name: z.string().regex(K8S_NAME, 'not a valid Secret name'),
  namespace: z.string().regex(NAMESPACE, 'not a valid namespace'),
  key: z.string().regex(SECRET_KEY, 'not a valid Secret key').default(defaultKey),
});

const hostKeyText = z.string().max(16_384).superRefine((s, ctx) => {
  try { parseHostKey(s); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); }
});

export const SshTargetSchema = z.strictObject({
  host: z.string().regex(HOST, 'a host is a DNS name, an IPv4 address or [an IPv6 address]').describe('storage host to connect to'),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/, 'not a valid user name').default('root')
    .describe('remote user; its login shell must be a POSIX shell'),
  privateKey: z.union([
    z.strictObject({ secretRef: secretKeyRef('ssh-privatekey') }).describe('a Secret key holding the private key (type kubernetes.io/ssh-auth uses "ssh-privatekey")'),
    z.strictObject({ file: z.string().regex(/^\/[^\0]*$/, 'must be an absolute path').refine((p) => !p.split('/').includes('..'), 'must not contain ".."') })
      .describe('a file on the driver\'s host (for labs and tests)'),
  ]).describe('client key (OpenSSH or PEM, unencrypted)'),
  hostKey: z.union([
    hostKeyText,
    z.strictObject({ secretRef: secretKeyRef('ssh-hostkey') }),
  ]).describe('the pinned host key: an OpenSSH public key line ("ssh-ed25519 AAAA...") or "SHA256:..." fingerprint, inline or from a Secret; never learned on first use'),
  maxSessions: z.number().int().min(1).max(10).default(4).describe('commands at once over the one connection (sshd allows 10 by default)'),
  timeoutSeconds: z.number().int().min(2).max(300).default(20)
    .describe('how long the host may stay silent (connecting, or not answering keepalives, sent every quarter of it) before calls fail with UNAVAILABLE'),
}).describe('an SSH connection to a storage host');

export type SshTarget = z.infer<typeof SshTargetSchema>;
export type SshTargetInput = z.input<typeof SshTargetSchema>;
