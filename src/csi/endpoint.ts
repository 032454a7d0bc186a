// Parsing --endpoint: unix:///abs/path.sock (production) or tcp://host:port (tests).
import { isAbsolute } from 'node:path';

export type Endpoint = { kind: 'unix'; path: string; grpc: string } | { kind: 'tcp'; host: string; port: number; grpc: string };

export function parseEndpoint(value: string): Endpoint {
  let m = /^unix:\/\/(\/.+)$/.exec(value) ?? /^unix:(\/.+)$/.exec(value);
  if (m) {
    const path = m[1]!;
    if (!isAbsolute(path) || path.includes('\0')) throw new Error(`--endpoint ${value}: the socket path must be absolute`);
    return { kind: 'unix', path, grpc: `unix://${path}` };
  }
  m = /^tcp:\/\/([^/:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(value);
  if (m) {
    const port = Number(m[2]);
    if (port > 65535) throw new Error(`--endpoint ${value}: port out of range`);
    return { kind: 'tcp', host: m[1]!, port, grpc: `${m[1]}:${port}` };
  }
  throw new Error(`--endpoint "${value}" is not unix:///path.sock or tcp://host:port`);
}
