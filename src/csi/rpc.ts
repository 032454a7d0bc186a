// Wrapping each CSI method: a request id, a log line with secrets redacted, metrics, and
// every failure turned into a gRPC status. Handlers are plain async functions.
import { randomUUID } from 'node:crypto';
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { callScope } from '../exec/index.js';
import { logger, redactSecrets } from '../observe/log.js';
import { rpcSeconds, rpcTotal } from '../observe/metrics.js';
import { codeName, toStatus } from './errors.js';
import { checkRequestBounds } from './limits.js';

// Requests are proto-loader objects; handlers narrow what they read.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Req = any;
export type Handler = (req: Req, ctx: { requestId: string }) => Promise<object>;

export function wrap(service: string, handlers: Record<string, Handler>): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    impl[method] = (call: ServerUnaryCall<Req, object>, callback: sendUnaryData<object>) => {
      const requestId = randomUUID();
      const started = performance.now();
      const log = logger().child({ requestId, method: `${service}.${method}` });
      // Bounds first: an oversized request is refused before it is logged or handled.
      new Promise<void>((resolve) => { checkRequestBounds(call.request); resolve(); }).then(() => {
        log.debug({ request: redactSecrets(call.request) }, 'request');
        // Each call its own read memo (exec/memo.ts): repeated lookups within it run once.
        return callScope(() => handler(call.request, { requestId }));
      }).then(
        (response) => {
          const ms = performance.now() - started;
          rpcTotal.inc({ method, code: 'OK' });
          rpcSeconds.observe({ method }, ms / 1000);
          log.info({ code: 'OK', ms: Math.round(ms) }, 'done');
          log.debug({ response: redactSecrets(response) }, 'response');
          callback(null, response);
        },
        (e: unknown) => {
          const ms = performance.now() - started;
          const { code, message } = toStatus(e);
          rpcTotal.inc({ method, code: codeName(code) });
          rpcSeconds.observe({ method }, ms / 1000);
          const level = code === status.INTERNAL || code === status.UNKNOWN ? 'error' : 'warn';
          log[level]({ code: codeName(code), ms: Math.round(ms), err: level === 'error' ? e : undefined, error: message }, 'failed');
          callback({ code, details: message, message } as never, null);
        },
      );
    };
  }
  return impl;
}
