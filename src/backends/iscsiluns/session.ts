// A short iSCSI session from the controller (RFC 7143): login (with one-way or mutual CHAP),
// SCSI commands one at a time, logout. It is how an `iscsi-luns` pool reads a foreign target's
// LUNs (REPORT LUNS, INQUIRY, READ CAPACITY) and wipes a released one (WRITE SAME) without a
// kernel initiator, so the controller needs neither iscsid nor a privileged container, and the
// CHAP secret stays in this process's memory. No digests, one connection, ErrorRecoveryLevel 0:
// any protocol surprise ends the session, and the caller opens a new one.
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { Chap } from '../../node/transports/iscsi-chap.js';

const BHS = 48;
const OP = {
  nopOut: 0x00, command: 0x01, loginReq: 0x03, logoutReq: 0x06, dataOut: 0x05,
  nopIn: 0x20, response: 0x21, loginRsp: 0x23, dataIn: 0x25, logoutRsp: 0x26, r2t: 0x31, async: 0x32, reject: 0x3f,
} as const;
const NO_TAG = 0xffffffff;
/** What we accept per PDU; the target's own limit comes back in the login. */
const OUR_MAX_RECV = 262144;
const STAGE = { security: 0, operational: 1, fullFeature: 3 } as const;

/** Why a session failed: `refused` = the target answered and said no (login status), else unreachable or broken. */
export class IscsiSessionError extends Error {
  constructor(readonly reason: 'unreachable' | 'refused' | 'auth' | 'protocol', message: string) {
    super(message);
    this.name = 'IscsiSessionError';
  }
}

/** A SCSI status other than GOOD, with its sense. */
export class ScsiError extends Error {
  constructor(readonly status: number, readonly senseKey: number, readonly asc: number, readonly ascq: number, what: string) {
    super(`${what}: SCSI status 0x${status.toString(16)}, sense key ${senseKey} ASC/ASCQ 0x${asc.toString(16)}/0x${ascq.toString(16)}`);
    this.name = 'ScsiError';
  }
  get illegalRequest(): boolean { return this.senseKey === 0x5; }
  get unitAttention(): boolean { return this.senseKey === 0x6; }
}

export interface SessionOptions {
  host: string;
  port: number;
  initiator: string;
  target: string;
  chap?: Chap;
  /** Deadline of each exchange (connect, every PDU awaited). */
  timeoutMs: number;
}

export interface Pdu { bhs: Buffer; data: Buffer }

/** "k=v\0k=v\0" → map (later keys win). */
export function parseKeys(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of data.toString('utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) out.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return out;
}

export function encodeKeys(keys: ReadonlyArray<[string, string]>): Buffer {
  return Buffer.from(keys.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

/** The 8-byte LUN field (SAM: peripheral addressing below 256, flat space up to 16383). */
export function lunField(lun: number): Buffer {
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else if (lun < 16384) { b[0] = 0x40 | (lun >> 8); b[1] = lun & 0xff; }
  else throw new RangeError(`LUN ${lun} is beyond flat addressing`);
  return b;
}

/** A LUN number from its 8-byte field, or undefined for addressing methods we do not use. */
export function lunOf(field: Buffer): number | undefined {
  const method = field[0]! >> 6;
  if (method === 0 && field[0] === 0) return field[1]!;
  if (method === 1) return ((field[0]! & 0x3f) << 8) | field[1]!;
  return undefined;
}

/** CHAP_R: MD5 over the identifier, the secret and the challenge (RFC 1994). */
export function chapResponse(id: number, secret: string, challenge: Buffer): Buffer {
  return createHash('md5').update(Buffer.from([id])).update(Buffer.from(secret, 'utf8')).update(challenge).digest();
}

function hexValue(v: string | undefined, what: string): Buffer {
  if (!v || !/^0[xX]([0-9a-fA-F]{2})+$/.test(v)) throw new IscsiSessionError('protocol', `the target sent a malformed ${what}`);
  return Buffer.from(v.slice(2), 'hex');
}

const pad4 = (n: number) => (n + 3) & ~3;

/** The whole length of the PDU at the start of `buf` (BHS, AHS, padded data; no digests), or undefined before its header is in. */
export function pduLength(buf: Buffer): number | undefined {
  return buf.length < BHS ? undefined : BHS + buf[4]! * 4 + pad4(buf.readUIntBE(5, 3));
}

/** Splits a byte stream into PDUs (no digests). */
class PduReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: Pdu[] = [];
  private waiter?: { resolve: (p: Pdu) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };
  private failed?: Error;

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const total = pduLength(this.buf);
      if (total === undefined || this.buf.length < total) return;
      const ahs = this.buf[4]! * 4;
      const dsl = this.buf.readUIntBE(5, 3);
      const pdu = { bhs: Buffer.from(this.buf.subarray(0, BHS)), data: Buffer.from(this.buf.subarray(BHS + ahs, BHS + ahs + dsl)) };
      this.buf = this.buf.subarray(total);
      this.deliver(pdu);
    }
  }

  fail(e: Error): void {
    this.failed ??= e;
    if (this.waiter) { clearTimeout(this.waiter.timer); this.waiter.reject(e); this.waiter = undefined; }
  }

  private deliver(p: Pdu): void {
    if (this.waiter) { clearTimeout(this.waiter.timer); const w = this.waiter; this.waiter = undefined; w.resolve(p); }
    else this.queue.push(p);
  }

  next(timeoutMs: number, what: string): Promise<Pdu> {
    const p = this.queue.shift();
    if (p) return Promise.resolve(p);
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiter = undefined; reject(new IscsiSessionError('unreachable', `no answer from the target within ${timeoutMs} ms (${what})`)); }, timeoutMs);
      this.waiter = { resolve, reject, timer };
    });
  }
}

export interface CommandResult { data: Buffer; residual: number }

export class IscsiSession {
  private itt = 1;
  private cmdSn = 1;
  private expStatSn = 0;
  private tsih = 0;
  /** The target's MaxRecvDataSegmentLength, FirstBurstLength, ImmediateData. */
  private maxSend = 8192;
  private firstBurst = 65536;
  private immediate = false;
  private readonly isid = Buffer.concat([Buffer.from([0x80]), randomBytes(3), Buffer.from([0, 1])]);
  private readonly reader = new PduReader();

  private constructor(private readonly sock: Socket, private readonly opts: SessionOptions) {
    sock.on('data', (c: Buffer) => this.reader.push(c));
    sock.on('error', (e) => this.reader.fail(new IscsiSessionError('unreachable', `connection to ${opts.host}:${opts.port}: ${e.message}`)));
    sock.on('close', () => this.reader.fail(new IscsiSessionError('unreachable', `the target closed the connection (${opts.host}:${opts.port})`)));
  }

  /** Connects and logs in to the target's normal session. */
  static async open(opts: SessionOptions): Promise<IscsiSession> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => { s.destroy(); reject(new IscsiSessionError('unreachable', `cannot connect to ${opts.host}:${opts.port} within ${opts.timeoutMs} ms`)); }, opts.timeoutMs);
      s.once('connect', () => { clearTimeout(timer); s.setNoDelay(true); resolve(s); });
      s.once('error', (e) => { clearTimeout(timer); reject(new IscsiSessionError('unreachable', `cannot connect to ${opts.host}:${opts.port}: ${e.message}`)); });
    });
    const session = new IscsiSession(sock, opts);
    try {
      await session.login();
    } catch (e) {
      sock.destroy();
      throw e;
    }
    return session;
  }

  private send(bhs: Buffer, data: Buffer = Buffer.alloc(0)): void {
    bhs.writeUIntBE(data.length, 5, 3);
    const pad = pad4(data.length) - data.length;
    this.sock.write(pad ? Buffer.concat([bhs, data, Buffer.alloc(pad)]) : Buffer.concat([bhs, data]));
  }

  private async loginExchange(csg: number, nsg: number, transit: boolean, keys: ReadonlyArray<[string, string]>): Promise<{ keys: Map<string, string>; transit: boolean; nsg: number }> {
    const got = new Map<string, string>();
    let out = encodeKeys(keys);
    for (;;) {
      const bhs = Buffer.alloc(BHS);
      bhs[0] = 0x40 | OP.loginReq;
      bhs[1] = (transit ? 0x80 : 0) | (csg << 2) | nsg;
      this.isid.copy(bhs, 8);
      bhs.writeUInt16BE(this.tsih, 14);
      bhs.writeUInt32BE(this.itt, 16);
      bhs.writeUInt32BE(this.cmdSn, 24);
      bhs.writeUInt32BE(this.expStatSn, 28);
      this.send(bhs, out);
      const rsp = await this.reader.next(this.opts.timeoutMs, 'login');
      if ((rsp.bhs[0]! & 0x3f) !== OP.loginRsp) throw new IscsiSessionError('protocol', `the target answered a login with opcode 0x${(rsp.bhs[0]! & 0x3f).toString(16)}`);
      const cls = rsp.bhs[36]!, detail = rsp.bhs[37]!;
      if (cls !== 0) throw loginRefusal(cls, detail, this.opts.target);
      this.expStatSn = (rsp.bhs.readUInt32BE(24) + 1) >>> 0;
      this.tsih = rsp.bhs.readUInt16BE(14);
      this.cmdSn = rsp.bhs.readUInt32BE(28);
      for (const [k, v] of parseKeys(rsp.data)) got.set(k, v);
      // C: the target's text continues in the next response.
      if (rsp.bhs[1]! & 0x40) { out = Buffer.alloc(0); transit = false; continue; }
      return { keys: got, transit: !!(rsp.bhs[1]! & 0x80), nsg: rsp.bhs[1]! & 0x3 };
    }
  }

  private async login(): Promise<void> {
    const { initiator, target, chap } = this.opts;
    const hello: Array<[string, string]> = [['InitiatorName', initiator], ['SessionType', 'Normal'], ['TargetName', target]];
    if (chap) await this.chap(hello, chap);
    else {
      const r = await this.loginExchange(STAGE.security, STAGE.operational, true, [...hello, ['AuthMethod', 'None']]);
      if (r.keys.get('AuthMethod') && r.keys.get('AuthMethod') !== 'None') throw new IscsiSessionError('auth', `target ${target} requires ${r.keys.get('AuthMethod')} authentication: give the pool CHAP credentials`);
    }
    let r = await this.loginExchange(STAGE.operational, STAGE.fullFeature, true, [
      ['HeaderDigest', 'None'], ['DataDigest', 'None'], ['MaxRecvDataSegmentLength', String(OUR_MAX_RECV)],
      ['InitialR2T', 'Yes'], ['ImmediateData', 'Yes'], ['MaxBurstLength', '262144'], ['FirstBurstLength', '65536'],
      ['DefaultTime2Wait', '0'], ['DefaultTime2Retain', '0'], ['MaxOutstandingR2T', '1'], ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'], ['ErrorRecoveryLevel', '0'], ['MaxConnections', '1'],
    ]);
    const keys = new Map(r.keys);
    for (let i = 0; !(r.transit && r.nsg === STAGE.fullFeature); i++) {
      if (i >= 4) throw new IscsiSessionError('protocol', `target ${target} did not finish the login negotiation`);
      r = await this.loginExchange(STAGE.operational, STAGE.fullFeature, true, []);
      for (const [k, v] of r.keys) keys.set(k, v);
    }
    const num = (k: string, d: number) => { const n = Number(keys.get(k)); return Number.isInteger(n) && n > 0 ? n : d; };
    this.maxSend = Math.min(num('MaxRecvDataSegmentLength', 8192), OUR_MAX_RECV);
    this.firstBurst = num('FirstBurstLength', 65536);
    this.immediate = (keys.get('ImmediateData') ?? 'Yes') === 'Yes';
    this.itt++;
  }

  private async chap(hello: Array<[string, string]>, chap: Chap): Promise<void> {
    const { target } = this.opts;
    let r = await this.loginExchange(STAGE.security, STAGE.operational, false, [...hello, ['AuthMethod', 'CHAP,None']]);
    if (r.keys.get('AuthMethod') !== 'CHAP') throw new IscsiSessionError('auth', `target ${target} did not accept CHAP (AuthMethod=${r.keys.get('AuthMethod') ?? 'none'})`);
    r = await this.loginExchange(STAGE.security, STAGE.operational, false, [['CHAP_A', '5']]);
    if (r.keys.get('CHAP_A') !== '5') throw new IscsiSessionError('auth', `target ${target} offers no CHAP with MD5`);
    const id = Number(r.keys.get('CHAP_I'));
    if (!Number.isInteger(id) || id < 0 || id > 255) throw new IscsiSessionError('protocol', 'the target sent a malformed CHAP_I');
    const challenge = hexValue(r.keys.get('CHAP_C'), 'CHAP_C');
    const answer: Array<[string, string]> = [['CHAP_N', chap.user], ['CHAP_R', `0x${chapResponse(id, chap.password, challenge).toString('hex')}`]];
    let mine: { id: number; challenge: Buffer } | undefined;
    if (chap.mutual) {
      mine = { id: randomBytes(1)[0]!, challenge: randomBytes(16) };
      answer.push(['CHAP_I', String(mine.id)], ['CHAP_C', `0x${mine.challenge.toString('hex')}`]);
    }
    r = await this.loginExchange(STAGE.security, STAGE.operational, true, answer);
    if (chap.mutual && mine) {
      const expected = chapResponse(mine.id, chap.mutual.password, mine.challenge);
      const got = r.keys.get('CHAP_R');
      if (r.keys.get('CHAP_N') !== chap.mutual.user || !got || !hexValue(got, 'CHAP_R').equals(expected)) {
        throw new IscsiSessionError('auth', `target ${target} failed mutual CHAP: its name or response does not match node.session.auth.username_in/password_in`);
      }
    }
  }

  /**
   * Runs one SCSI command on `lun`: `dataIn` bytes expected back, or `dataOut` sent. Throws
   * ScsiError for any status other than GOOD.
   */
  async command(lun: number, cdb: Buffer, dir: { dataIn: number } | { dataOut: Buffer } | Record<string, never> = {}, what = 'SCSI command'): Promise<CommandResult> {
    const itt = this.itt++ >>> 0;
    const out = 'dataOut' in dir ? dir.dataOut : undefined;
    const inLen = 'dataIn' in dir ? dir.dataIn : 0;
    const bhs = Buffer.alloc(BHS);
    bhs[0] = OP.command;
    bhs[1] = 0x80 | (inLen ? 0x40 : 0) | (out ? 0x20 : 0) | 0x01;
    lunField(lun).copy(bhs, 8);
    bhs.writeUInt32BE(itt, 16);
    bhs.writeUInt32BE(out ? out.length : inLen, 20);
    bhs.writeUInt32BE(this.cmdSn, 24);
    bhs.writeUInt32BE(this.expStatSn, 28);
    cdb.copy(bhs, 32, 0, Math.min(cdb.length, 16));
    this.cmdSn = (this.cmdSn + 1) >>> 0;
    const imm = out && this.immediate ? out.subarray(0, Math.min(out.length, this.firstBurst, this.maxSend)) : Buffer.alloc(0);
    this.send(bhs, imm);
    const data = Buffer.alloc(inLen);
    let got = 0;
    for (;;) {
      const p = await this.reader.next(this.opts.timeoutMs, what);
      const op = p.bhs[0]! & 0x3f;
      if (op === OP.nopIn) { this.answerNop(p); continue; }
      if (op === OP.async) continue;
      if (op === OP.reject) throw new IscsiSessionError('protocol', `the target rejected the ${what} PDU (reason 0x${p.bhs[2]!.toString(16)})`);
      if (p.bhs.readUInt32BE(16) !== itt) throw new IscsiSessionError('protocol', `an answer for another task arrived during ${what} (opcode 0x${op.toString(16)})`);
      if (op === OP.r2t && out) { this.dataOut(p, out, lun, itt); continue; }
      if (op === OP.dataIn) {
        const offset = p.bhs.readUInt32BE(40);
        if (offset + p.data.length > data.length) throw new IscsiSessionError('protocol', `the target sent more data than asked for (${what})`);
        p.data.copy(data, offset);
        got = Math.max(got, offset + p.data.length);
        if (p.bhs[1]! & 0x01) { // S: the status comes with the data
          this.expStatSn = (p.bhs.readUInt32BE(24) + 1) >>> 0;
          const status = p.bhs[3]!;
          if (status !== 0) throw new ScsiError(status, 0, 0, 0, what);
          return { data: data.subarray(0, got), residual: p.bhs[1]! & 0x02 ? p.bhs.readUInt32BE(44) : 0 };
        }
        continue;
      }
      if (op === OP.response) {
        this.expStatSn = (p.bhs.readUInt32BE(24) + 1) >>> 0;
        if (p.bhs[2] !== 0) throw new IscsiSessionError('protocol', `the target could not complete the ${what} (iSCSI response 0x${p.bhs[2]!.toString(16)})`);
        const status = p.bhs[3]!;
        if (status !== 0) {
          const sense = p.data.length >= 2 ? p.data.subarray(2, 2 + p.data.readUInt16BE(0)) : Buffer.alloc(0);
          const [key, asc, ascq] = senseOf(sense);
          throw new ScsiError(status, key, asc, ascq, what);
        }
        return { data: data.subarray(0, got), residual: p.bhs[1]! & 0x02 ? p.bhs.readUInt32BE(44) : 0 };
      }
      throw new IscsiSessionError('protocol', `unexpected opcode 0x${op.toString(16)} during ${what}`);
    }
  }

  /** Sends what an R2T asks for, in PDUs the target accepts. */
  private dataOut(r2t: Pdu, out: Buffer, lun: number, itt: number): void {
    const ttt = r2t.bhs.readUInt32BE(20);
    const offset = r2t.bhs.readUInt32BE(40);
    const want = r2t.bhs.readUInt32BE(44);
    if (offset + want > out.length) throw new IscsiSessionError('protocol', 'the target asked for data beyond the command');
    let sn = 0;
    for (let at = offset; at < offset + want; at += this.maxSend) {
      const len = Math.min(this.maxSend, offset + want - at);
      const bhs = Buffer.alloc(BHS);
      bhs[0] = OP.dataOut;
      bhs[1] = at + len >= offset + want ? 0x80 : 0;
      lunField(lun).copy(bhs, 8);
      bhs.writeUInt32BE(itt, 16);
      bhs.writeUInt32BE(ttt, 20);
      bhs.writeUInt32BE(this.expStatSn, 28);
      bhs.writeUInt32BE(sn++, 36);
      bhs.writeUInt32BE(at, 40);
      this.send(bhs, out.subarray(at, at + len));
    }
  }

  /** A NOP-In with a target tag is a ping that needs an answer (LIO sends them on idle connections). */
  private answerNop(p: Pdu): void {
    const ttt = p.bhs.readUInt32BE(20);
    if (ttt === NO_TAG) return;
    const bhs = Buffer.alloc(BHS);
    bhs[0] = 0x40 | OP.nopOut;
    bhs[1] = 0x80;
    p.bhs.copy(bhs, 8, 8, 16);
    bhs.writeUInt32BE(NO_TAG, 16);
    bhs.writeUInt32BE(ttt, 20);
    bhs.writeUInt32BE(this.cmdSn, 24);
    bhs.writeUInt32BE(this.expStatSn, 28);
    this.send(bhs);
  }

  /** Logs out (best effort) and closes the connection. */
  async close(): Promise<void> {
    if (this.sock.destroyed) return;
    try {
      const bhs = Buffer.alloc(BHS);
      bhs[0] = 0x40 | OP.logoutReq;
      bhs[1] = 0x80; // reason 0: close the session
      bhs.writeUInt32BE(this.itt++ >>> 0, 16);
      bhs.writeUInt32BE(this.cmdSn, 24);
      bhs.writeUInt32BE(this.expStatSn, 28);
      this.send(bhs);
      for (;;) {
        const p = await this.reader.next(Math.min(this.opts.timeoutMs, 5000), 'logout');
        if ((p.bhs[0]! & 0x3f) === OP.logoutRsp) break;
      }
    } catch { /* the connection goes anyway */ } finally {
      this.sock.destroy();
    }
  }
}

/** Sense key, ASC, ASCQ of fixed (0x70/0x71) or descriptor (0x72/0x73) sense data. */
export function senseOf(s: Buffer): [number, number, number] {
  const code = (s[0] ?? 0) & 0x7f;
  if (code === 0x72 || code === 0x73) return [(s[1] ?? 0) & 0x0f, s[2] ?? 0, s[3] ?? 0];
  return [(s[2] ?? 0) & 0x0f, s[12] ?? 0, s[13] ?? 0];
}

function loginRefusal(cls: number, detail: number, target: string): IscsiSessionError {
  const code = (cls << 8) | detail;
  const why: Record<number, string> = {
    0x0201: 'authentication failed (CHAP name or secret wrong, or CHAP required)',
    0x0202: 'this initiator is not allowed (add it to the target\'s ACL)',
    0x0203: 'the target does not exist on this portal',
    0x0204: 'the target was removed',
  };
  const reason = cls === 2 && detail === 1 ? 'auth' : 'refused';
  const text = why[code] ?? (cls === 3 ? `target error 0x${code.toString(16).padStart(4, '0')}` : `status 0x${code.toString(16).padStart(4, '0')}`);
  return new IscsiSessionError(cls === 3 ? 'unreachable' : reason, `login to ${target} refused: ${text}`);
}
