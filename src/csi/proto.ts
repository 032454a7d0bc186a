// Loading the CSI wire contract (proto/csi.proto) and poolcsi's agent protocol at start.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';

/** proto/ at the package root, found from this module whether run from src/ (tsx) or dist/src/. */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'proto', 'csi.proto'))) return join(dir, 'proto');
    dir = dirname(dir);
  }
  throw new Error('proto/csi.proto not found next to the poolcsi package');
}

export const LOADER_OPTIONS: loader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export interface CsiServices {
  Identity: grpc.ServiceClientConstructor;
  Controller: grpc.ServiceClientConstructor;
  Node: grpc.ServiceClientConstructor;
  GroupController: grpc.ServiceClientConstructor;
}

let cached: CsiServices | undefined;

export function loadCsi(): CsiServices {
  if (cached) return cached;
  const def = loader.loadSync('csi.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { csi: { v1: CsiServices } };
  cached = pkg.csi.v1;
  return cached;
}
