// Loading the CSI wire contract (proto/csi.proto) and poolcsi's agent protocol at start.
import type * as grpc from '@grpc/grpc-js';
import { loadProto } from '../rpc/proto.js';

export { LOADER_OPTIONS, protoDir } from '../rpc/proto.js';

export interface CsiServices {
  Identity: grpc.ServiceClientConstructor;
  Controller: grpc.ServiceClientConstructor;
  Node: grpc.ServiceClientConstructor;
  GroupController: grpc.ServiceClientConstructor;
}

let cached: CsiServices | undefined;

export function loadCsi(): CsiServices {
  if (cached) return cached;
  const pkg = loadProto('csi.proto') as unknown as { csi: { v1: CsiServices } };
  cached = pkg.csi.v1;
  return cached;
}
