// The kubelet's plugin registration service (proto/pluginregistration.proto), served on a
// socket in the kubelet's plugins_registry directory so the kubelet registers the driver.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { LOADER_OPTIONS, protoDir } from './proto.js';
import type { Handler } from './rpc.js';

/** CSI spec versions the kubelet may speak with this driver. */
export const CSI_VERSIONS = ['1.0.0'];

let cached: grpc.ServiceClientConstructor | undefined;

export function loadRegistration(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = loader.loadSync('pluginregistration.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  cached = (grpc.loadPackageDefinition(def) as unknown as { pluginregistration: { Registration: grpc.ServiceClientConstructor } }).pluginregistration.Registration;
  return cached;
}

export interface RegistrationStatus { registered: boolean; error: string }

export function registrationHandlers(o: { driverName: string; endpoint: string; onStatus: (s: RegistrationStatus) => void }): Record<string, Handler> {
  return {
    async GetInfo() {
      return { type: 'CSIPlugin', name: o.driverName, endpoint: o.endpoint, supported_versions: CSI_VERSIONS };
    },
    async NotifyRegistrationStatus(req: { plugin_registered?: boolean; error?: string }) {
      o.onStatus({ registered: req.plugin_registered === true, error: String(req.error ?? '') });
      return {};
    },
  };
}
