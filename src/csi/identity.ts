// The Identity service.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { protoDir } from './proto.js';
import type { Handler } from './rpc.js';

export const DRIVER_NAME = 'poolcsi.io';

export const VERSION: string = (() => {
  const pkg = JSON.parse(readFileSync(join(dirname(protoDir()), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
})();

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
