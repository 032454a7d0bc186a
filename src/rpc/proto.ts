// Loading poolcsi's .proto files (the CSI wire contract and the agent protocol) from proto/.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';

/** proto/ at the package root, found from this module whether run from src/ or dist/src/. */
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

/** The gRPC package object of one file in proto/. */
export function loadProto(file: string): grpc.GrpcObject {
  return grpc.loadPackageDefinition(loader.loadSync(file, { ...LOADER_OPTIONS, includeDirs: [protoDir()] }));
}
