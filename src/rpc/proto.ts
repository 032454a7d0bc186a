// Loading poolcsi's .proto files (the CSI wire contract and the agent protocol) from proto/.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { packageRoot } from '../sys/package.js';

/** proto/ at the package root, found from this module whether run from src/ or dist/src/. */
export function protoDir(): string {
  return join(packageRoot(), 'proto');
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
