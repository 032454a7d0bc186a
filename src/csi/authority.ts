// Accepting Go clients that send the socket path as the HTTP/2 :authority.
// Older grpc-go releases (and so older kubelets and CSI sidecars) dial a unix socket with the
// path itself as :authority ("/csi/csi.sock"). Node's HTTP/2 layer (nghttp2) rejects that value
// and resets the stream with PROTOCOL_ERROR; Node drivers have shipped proxy sidecars for it.
// poolcsi instead owns the unix socket and hands each connection to grpc-js through a stream
// that rewrites such an :authority to "localhost" in the client's header blocks. Everything
// else passes through byte for byte, in both directions.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { encodeLiterals, HpackDecoder } from './hpack.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** Every HTTP/2 peer accepts frames of this size (SETTINGS_MAX_FRAME_SIZE is never lower). */
const MAX_FRAME = 16_384;

/** The characters nghttp2 accepts in :authority (RFC 3986 authority). */
const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:%@[\]]*$/;

export function fixAuthority(value: string): string {
  return VALID_AUTHORITY.test(value) ? value : 'localhost';
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** Rewrites the client→server byte stream of one HTTP/2 connection. */
export class AuthorityRewriter {
  private pending: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  private readonly decoder = new HpackDecoder();
  private block: { stream: number; flags: number; priority: Buffer | undefined; parts: Buffer[] } | undefined;
  rewritten = 0;

  /** Feeds bytes from the client; returns the bytes to hand to the server. */
  push(chunk: Buffer): Buffer {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    if (!this.prefaceSeen) {
      if (this.pending.length < PREFACE.length) return Buffer.alloc(0);
      out.push(this.pending.subarray(0, PREFACE.length));
      this.pending = this.pending.subarray(PREFACE.length);
      this.prefaceSeen = true;
    }
    while (this.pending.length >= 9) {
      const len = this.pending.readUIntBE(0, 3);
      if (this.pending.length < 9 + len) break;
      const type = this.pending[3]!;
      const flags = this.pending[4]!;
      const stream = this.pending.readUInt32BE(5) & 0x7fffffff;
      const raw = this.pending.subarray(0, 9 + len);
      const payload = raw.subarray(9);
      this.pending = this.pending.subarray(9 + len);
      if (type === HEADERS) {
        let body = payload;
        if (flags & PADDED) body = body.subarray(1, body.length - body[0]!);
        let priority: Buffer | undefined;
        if (flags & PRIORITY) { priority = Buffer.from(body.subarray(0, 5)); body = body.subarray(5); }
        this.block = { stream, flags, priority, parts: [Buffer.from(body)] };
      } else if (type === CONTINUATION && this.block && this.block.stream === stream) {
        this.block.parts.push(Buffer.from(payload));
      } else {
        out.push(Buffer.from(raw));
        continue;
      }
      if (flags & END_HEADERS) out.push(this.finishBlock());
    }
    return Buffer.concat(out);
  }

  private finishBlock(): Buffer {
    const b = this.block!;
    this.block = undefined;
    const fields = this.decoder.decode(Buffer.concat(b.parts));
    for (const f of fields) {
      if (f.name === ':authority' && fixAuthority(f.value) !== f.value) { f.value = fixAuthority(f.value); this.rewritten++; }
    }
    const encoded = encodeLiterals(fields);
    const head = b.priority ? Buffer.concat([b.priority, encoded]) : encoded;
    const frames: Buffer[] = [];
    for (let off = 0; off === 0 || off < head.length; off += MAX_FRAME) {
      const part = head.subarray(off, off + MAX_FRAME);
      const last = off + MAX_FRAME >= head.length;
      const first = off === 0;
      const flags = (first ? (b.flags & (END_STREAM | PRIORITY)) : 0) | (last ? END_HEADERS : 0);
      frames.push(frame(first ? HEADERS : CONTINUATION, flags, b.stream, part));
    }
    return Buffer.concat(frames);
  }
}

/** A socket as grpc-js sees it: reads pass through the rewriter, writes go straight out. */
export class AuthorityFixingStream extends Duplex {
  private readonly rewriter = new AuthorityRewriter();

  constructor(private readonly socket: Socket) {
    super({ allowHalfOpen: false });
    socket.on('data', (chunk: Buffer) => {
      let out: Buffer;
      try {
        out = this.rewriter.push(chunk);
      } catch (e) {
        // A header block we cannot decode is a connection error for any HTTP/2 server.
        this.destroy(e as Error);
        return;
      }
      if (out.length && !this.push(out)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (e) => this.destroy(e));
    socket.on('close', () => { if (!this.destroyed) this.destroy(); });
  }

  override _read(): void { this.socket.resume(); }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (e?: Error | null) => void): void { this.socket.end(cb); }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.socket.destroy(err ?? undefined);
    cb(err);
  }

  // Node's HTTP/2 session asks its socket for these.
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }
  setTimeout(ms: number, cb?: () => void): this { this.socket.setTimeout(ms, cb); return this; }
  get remoteAddress(): string | undefined { return this.socket.remoteAddress ?? 'unix'; }
  get remotePort(): number | undefined { return this.socket.remotePort; }
}
