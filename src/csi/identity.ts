// The Identity service.
import { DRIVER_NAME, VERSION } from '../rpc/version.js';
import type { Handler } from './rpc.js';

export { DRIVER_NAME, VERSION };

export function identityHandlers(opts: { controller: boolean; ready: () => boolean }): Record<string, Handler> {
  return {
    async GetPluginInfo() {
      return { name: DRIVER_NAME, vendor_version: VERSION, manifest: {} };
    },
    async GetPluginCapabilities() {
      const caps: object[] = [];
      if (opts.controller) caps.push({ service: { type: 'CONTROLLER_SERVICE' } });
      caps.push({ service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } });
      caps.push({ volume_expansion: { type: 'ONLINE' } });
      return { capabilities: caps };
    },
    async Probe() {
      // Not ready until pools are loaded: the CO waits instead of sending calls that would fail.
      return { ready: { value: opts.ready() } };
    },
  };
}
