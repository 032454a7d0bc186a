// `poolcsi registrar`: registers the driver with the kubelet (the node-driver-registrar's job)
// through the kubelet's own plugin-registration path: a socket in plugins_registry serving
// pluginregistration v1, which the kubelet finds, asks GetInfo and answers with
// NotifyRegistrationStatus; the kubelet then fills CSINode and labels the Node.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { parseArgs } from 'node:util';
import { IdentityClient } from '../csi/client.js';
import { parseEndpoint } from '../csi/endpoint.js';
import { loadRegistration, registrationHandlers, type RegistrationStatus } from '../csi/registration.js';
import { wrap } from '../csi/rpc.js';
import { startServer, stopServer } from '../csi/server.js';
import { waitFor } from '../exec/wait.js';
import { createLogger, setLogger } from '../observe/log.js';
import { serveHealth } from './http-health.js';

export const REGISTRAR_HELP = `Usage: poolcsi registrar --csi-address PATH --kubelet-registration-path PATH
                         [--registration-dir DIR] [--http-endpoint [HOST]:PORT]
                         [--log-level LEVEL]

Registers the driver with the kubelet: asks the driver its name on --csi-address, then serves
the kubelet's plugin registration service on DIR/<driver>-reg.sock.

  --csi-address                the driver's CSI socket inside this container
  --kubelet-registration-path  the same socket as the kubelet sees it on the host
  --registration-dir           the kubelet's plugins_registry, mounted here (default /registration)
  --http-endpoint              serve GET /healthz: 200 while the registration socket exists and
                               the kubelet has not reported a failed registration
`;

function absolutePath(flag: string, v: string | undefined): string {
  if (!v || !isAbsolute(v) || normalize(v) !== v || v.includes('\0')) throw new Error(`${flag} must be an absolute, normalized path`);
  return v;
}

export async function registrarCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      'csi-address': { type: 'string' },
      'kubelet-registration-path': { type: 'string' },
      'registration-dir': { type: 'string' },
      'http-endpoint': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) { process.stdout.write(REGISTRAR_HELP); return 0; }
  const log = createLogger({ level: values['log-level'] ?? 'info' });
  setLogger(log);
  const csiAddress = absolutePath('--csi-address', values['csi-address']?.replace(/^unix:\/\//, ''));
  const kubeletPath = absolutePath('--kubelet-registration-path', values['kubelet-registration-path']);
  const regDir = absolutePath('--registration-dir', values['registration-dir'] ?? '/registration');

  const identity = new IdentityClient(`unix://${csiAddress}`);
  // The driver container may start after this one: wait for it (the pod restarts us after).
  const driverName = await waitFor(() => identity.pluginName(5000), { timeoutMs: 120_000, maxIntervalMs: 2000, what: `the driver on ${csiAddress}` });
  identity.close();
  if (!/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/.test(driverName)) throw new Error(`the driver's name "${driverName}" is not a CSI driver name`);

  const socket = join(regDir, `${driverName}-reg.sock`);
  let last: RegistrationStatus | undefined;
  let failed: (e: Error) => void = () => {};
  const failure = new Promise<never>((_, reject) => { failed = reject; });
  const running = await startServer(parseEndpoint(`unix://${socket}`), [{
    definition: loadRegistration().service,
    impl: wrap('Registration', registrationHandlers({
      driverName,
      endpoint: kubeletPath,
      onStatus: (s) => {
        last = s;
        if (s.registered) log.info({ driver: driverName }, 'the kubelet registered the driver');
        else {
          // Like the upstream registrar: exit, so the pod restarts and the kubelet tries again.
          log.error({ driver: driverName, error: s.error }, 'the kubelet refused the driver');
          failed(new Error(`the kubelet refused the registration: ${s.error}`));
        }
      },
    })),
  }]);
  const health = values['http-endpoint'] ? await serveHealth(values['http-endpoint'], async () => {
    if (!existsSync(socket)) throw new Error(`${socket} is gone`);
    if (last && !last.registered) throw new Error(`registration failed: ${last.error}`);
  }) : undefined;
  log.info({ driver: driverName, socket, endpoint: kubeletPath }, 'registration socket ready');

  const stop = async () => {
    health?.close();
    await stopServer(running, 2000);
    // Gone socket = the kubelet deregisters the driver until a new registrar comes up.
    await rm(socket, { force: true });
  };
  try {
    await Promise.race([failure, new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    })]);
    return 0;
  } finally {
    await stop();
  }
}
