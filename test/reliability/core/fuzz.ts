// Fuzzing the CSI surface from proto/csi.proto: every RPC of every service, its request built by
// walking the message descriptors (@grpc/proto-loader) with random and adversarial values, plus
// raw protobuf bytes with wrong wire types. Seeded and bounded; checks the driver's answers.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { LOADER_OPTIONS, protoDir } from '../../../src/csi/proto.js';
import { type CsiClient, codeName } from './csi.js';
import { Rng } from './rng.js';

interface FieldDesc { name: string; number: number; label: string; type: string; typeName: string }
interface MsgDesc { name: string; field: FieldDesc[]; nestedType: MsgDesc[]; enumType: Array<{ name: string; value: Array<{ name: string; number: number }> }>; options?: { mapEntry?: boolean } | null }

export interface RpcDesc { service: string; method: string; request: string; streaming: boolean; serialize: (v: unknown) => Buffer }

export class ProtoModel {
  readonly messages = new Map<string, MsgDesc>();
  readonly enums = new Map<string, string[]>();
  readonly rpcs: RpcDesc[] = [];

  constructor() {
    const def = loader.loadSync('csi.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir()] }) as Record<string, any>;
    const walk = (full: string, m: MsgDesc) => {
      this.messages.set(full, m);
      for (const e of m.enumType ?? []) this.enums.set(`${full}.${e.name}`, e.value.map((v) => v.name));
      for (const n of m.nestedType ?? []) walk(`${full}.${n.name}`, n);
    };
    for (const [k, v] of Object.entries(def)) {
      if (v?.format === 'Protocol Buffer 3 DescriptorProto') walk(k, v.type as MsgDesc);
      else if (v?.format === 'Protocol Buffer 3 EnumDescriptorProto') this.enums.set(k, (v.type.value as Array<{ name: string }>).map((x) => x.name));
    }
    for (const [k, v] of Object.entries(def)) {
      if (v?.format !== undefined || !k.startsWith('csi.v1.')) continue;
      for (const [method, m] of Object.entries(v as Record<string, any>)) {
        if (m?.requestType?.type?.name) {
          this.rpcs.push({ service: k.slice('csi.v1.'.length), method, request: `csi.v1.${m.requestType.type.name}`, streaming: !!m.responseStream, serialize: m.requestSerialize });
        }
      }
    }
  }

  /** Resolves a (possibly relative) type name as protobuf scoping does, from message `scope`. */
  resolve(scope: string, name: string): { kind: 'message'; full: string } | { kind: 'enum'; full: string } {
    if (name.startsWith('.')) name = name.slice(1);
    const parts = scope.split('.');
    for (let i = parts.length; i >= 0; i--) {
      const full = [...parts.slice(0, i), name].join('.');
      if (this.messages.has(full)) return { kind: 'message', full };
      if (this.enums.has(full)) return { kind: 'enum', full };
    }
    throw new Error(`cannot resolve ${name} from ${scope}`);
  }
}

/** Values a hostile or confused CO might send; `marker` names anything created outside the pools. */
export interface FuzzContext {
  pools: string[];
  volumeIds: string[];
  snapshotIds: string[];
  nodeIds: string[];
  /** Paths the driver may use (staging/target), and places it must never touch. */
  goodPaths: string[];
  baitPaths: string[];
  marker: string;
  /** Well-formed requests per RPC ("Controller.CreateVolume"), mutated a field or two at a time. */
  templates: Record<string, Record<string, unknown>>;
}

export class Generator {
  constructor(readonly model: ProtoModel, readonly rng: Rng, readonly ctx: FuzzContext) {}

  private str(field: string): string {
    const r = this.rng;
    const c = this.ctx;
    const m = c.marker;
    const tricks = [
      '', ' ', '\0', 'a\nb', '-rf', '--help', '-o=remount', '$(touch /tmp/' + m + ')', '`id`', `;touch /tmp/${m}`, '..', '../..', '/', '.',
      `../../../tmp/${m}`, `/tmp/${m}`, `/tmp/../tmp/${m}`, `/etc/${m}`, 'é☃\u202e', 'A'.repeat(129), 'A'.repeat(r.int(1, 5000)),
      'x'.repeat(r.chance(0.05) ? 1024 * 1024 : 300), `${r.pick(c.pools)}:../../${m}`, `${r.pick(c.pools)}:a/../../b`, 'nosuchpool:v',
      `${r.pick(c.pools)}:`, ':', `${r.pick(c.pools)}:v@`, `${r.pick(c.pools)}:v@../${m}`, `${r.pick(c.pools)}:-rf`, `${r.pick(c.pools)}:${m}`,
      `pvc-${m}-${r.int(0, 9)}`, `snapshot-${m}`, 'kube-system', 'SINGLE_NODE_WRITER', '0', '-1', '1e400', 'true',
    ];
    if (/volume_id$/.test(field) && c.volumeIds.length && r.chance(0.5)) {
      const id = r.pick(c.volumeIds);
      return r.chance(0.7) ? id : r.pick([`${id}/..`, `${id}\n`, id.replace(/^[^:]+/, r.pick(c.pools)), id.toUpperCase(), `${id}@x`]);
    }
    if (/snapshot_id$/.test(field) && c.snapshotIds.length && r.chance(0.5)) {
      const id = r.pick(c.snapshotIds);
      return r.chance(0.7) ? id : r.pick([id.replace(/^[^:]+/, r.pick(c.pools)), `${id}@y`, id.replace('@', '@../')]);
    }
    if (/node_id$/.test(field) && r.chance(0.6)) return r.pick(c.nodeIds);
    if (/_path$/.test(field) && r.chance(0.6)) {
      const good = r.pick(c.goodPaths);
      return r.pick([good, `${good}/../../${m}`, `${good}/./x`, `${good}//x`, r.pick(c.baitPaths), `${good}/${r.int(0, 99)}`, 'relative/path']);
    }
    if (field === 'name' && r.chance(0.4)) return `pvc-${m}-${r.int(0, 20)}`;
    return r.pick(tricks);
  }

  private int64(): string {
    return this.rng.pick(['0', '1', '-1', '1048576', '9223372036854775807', '-9223372036854775808', String(this.rng.int(0, 2 ** 31)), '1099511627776000', '4096']);
  }

  /** A well-formed request with up to three of its fields (at any depth) replaced or removed. */
  mutate(full: string, template: Record<string, unknown>): Record<string, unknown> {
    const r = this.rng;
    const req = structuredClone(template);
    // Sometimes none: the well-formed request itself, in an order no CO would send it.
    const n = r.pick([0, 1, 1, 1, 2, 3]);
    for (let i = 0; i < n; i++) {
      // Walk down a random path of object fields, then replace or drop the last one.
      let obj: Record<string, unknown> = req;
      let scope = full;
      for (let depth = 0; depth < 4; depth++) {
        const keys = Object.keys(obj);
        if (!keys.length) break;
        const k = r.pick(keys);
        const v = obj[k];
        const fd = this.model.messages.get(scope)?.field.find((f) => f.name === k);
        const deeper = v && typeof v === 'object' && !Array.isArray(v) && fd?.type === 'TYPE_MESSAGE' && !this.isMap(scope, fd) && r.chance(0.5);
        if (deeper && fd) { obj = v as Record<string, unknown>; scope = this.model.resolve(scope, fd.typeName).full; continue; }
        if (r.chance(0.3) || !fd) { delete obj[k]; break; }
        const fresh = this.message(scope, 3);
        if (fresh[k] !== undefined) obj[k] = fresh[k]; else delete obj[k];
        break;
      }
    }
    return req;
  }

  private isMap(scope: string, f: FieldDesc): boolean {
    return !!this.model.messages.get(this.model.resolve(scope, f.typeName).full)?.options?.mapEntry;
  }

  message(full: string, depth = 0, fieldHint = ''): Record<string, unknown> {
    const m = this.model.messages.get(full)!;
    const r = this.rng;
    if (m.options?.mapEntry) throw new Error('map entries are built by map()');
    const out: Record<string, unknown> = {};
    for (const f of m.field) {
      // Missing fields (required ones too) are as likely as present ones.
      if (r.chance(0.35)) continue;
      const repeated = f.label === 'LABEL_REPEATED';
      if (f.type === 'TYPE_MESSAGE') {
        const t = this.model.resolve(full, f.typeName);
        const inner = this.model.messages.get(t.full)!;
        if (inner.options?.mapEntry) { out[f.name] = this.map(t.full, f.name); continue; }
        if (depth > 4) continue;
        out[f.name] = repeated ? Array.from({ length: r.pick([0, 1, 1, 2, 3, r.int(0, 50)]) }, () => this.message(t.full, depth + 1, f.name))
          : this.message(t.full, depth + 1, f.name);
        continue;
      }
      const one = () => this.scalar(full, f);
      out[f.name] = repeated ? Array.from({ length: r.pick([0, 1, 2, r.int(0, 30)]) }, one) : one();
    }
    void fieldHint;
    return out;
  }

  private scalar(scope: string, f: FieldDesc): unknown {
    const r = this.rng;
    switch (f.type) {
      case 'TYPE_STRING': return this.str(f.name);
      case 'TYPE_BYTES': return Buffer.from(this.str(f.name));
      case 'TYPE_BOOL': return r.chance(0.5);
      case 'TYPE_INT64': case 'TYPE_UINT64': case 'TYPE_SINT64': case 'TYPE_FIXED64': case 'TYPE_SFIXED64': return this.int64();
      case 'TYPE_INT32': case 'TYPE_UINT32': case 'TYPE_SINT32': case 'TYPE_FIXED32': case 'TYPE_SFIXED32':
        return r.pick([0, 1, -1, 2147483647, -2147483648, r.int(0, 1000)]);
      case 'TYPE_DOUBLE': case 'TYPE_FLOAT': return r.pick([0, -1, 1e308, Number.NaN, 0.5]);
      case 'TYPE_ENUM': {
        const names = this.model.enums.get(this.model.resolve(scope, f.typeName).full) ?? [];
        // Wrong enums: numbers no version of the spec defines.
        return r.chance(0.25) ? r.pick([99, -1, 2147483647]) : r.pick(names);
      }
      default: return undefined;
    }
  }

  private map(full: string, field: string): Record<string, string> {
    const r = this.rng;
    const out: Record<string, string> = {};
    const n = r.pick([0, 1, 2, 3, r.int(0, 20), r.chance(0.1) ? r.int(1000, 20000) : 4]);
    const keys = ['pool', 'fsType', 'mkfsOptions', 'mountOptions', 'pool', 'transport', 'bind.path', 'type', 'mode', 'csi.storage.k8s.io/pvc/name',
      'csi.storage.k8s.io/pvc/namespace', 'csi.storage.k8s.io/pv/name', 'userID', 'userKey', 'mirror', 'stripes', ''];
    for (let i = 0; i < n; i++) {
      const k = i < keys.length && r.chance(0.7) ? r.pick(keys) : `${this.str('key').slice(0, 300)}${i}`;
      const v = k === 'pool' && r.chance(0.6) ? r.pick([...this.ctx.pools, 'nosuchpool']) : this.str(k === 'bind.path' ? 'x_path' : field);
      out[k] = v;
    }
    void full;
    return out;
  }

  /** Raw protobuf with the request's field numbers but random wire types and contents. */
  raw(full: string): Buffer {
    const m = this.model.messages.get(full)!;
    const r = this.rng;
    const bytes: number[] = [];
    const varint = (v: number) => { let x = v >>> 0; while (x > 127) { bytes.push((x & 127) | 128); x >>>= 7; } bytes.push(x); };
    const n = r.int(0, 8);
    for (let i = 0; i < n; i++) {
      const num = m.field.length && r.chance(0.8) ? r.pick(m.field).number : r.int(1, 40);
      const wt = r.pick([0, 1, 2, 5, 3, 4, 6, 7]);
      varint((num << 3) | wt);
      if (wt === 0) varint(r.int(0, 2 ** 31));
      else if (wt === 1) for (let j = 0; j < 8; j++) bytes.push(r.int(0, 255));
      else if (wt === 5) for (let j = 0; j < 4; j++) bytes.push(r.int(0, 255));
      else if (wt === 2) {
        const len = r.chance(0.1) ? r.int(1000, 100000) : r.int(0, 40);
        // Sometimes a length longer than what follows (a truncated message).
        varint(r.chance(0.2) ? len + 10 : len);
        for (let j = 0; j < len; j++) bytes.push(r.int(0, 255));
      }
    }
    return Buffer.from(bytes);
  }
}

export interface FuzzFinding { seed: number; index: number; rpc: string; what: string; request?: string }

export interface FuzzReport {
  seed: number;
  requests: number;
  raw: number;
  answers: Record<string, number>;
  byRpc: Record<string, number>;
  slowest: { rpc: string; ms: number };
  findings: FuzzFinding[];
  /** Raw requests grpc-js itself could not decode: answered INTERNAL by the library, before the driver (as grpc-go does). */
  undecodable: number;
}

/** Codes that say the driver, not the caller, failed. */
const SERVER_FAULT = new Set(['INTERNAL', 'UNKNOWN', 'DATA_LOSS']);

export async function runFuzz(client: CsiClient, socket: string, ctx: FuzzContext, o: {
  seed: number; requests: number; boundMs: number; alive: () => boolean; log?: (s: string) => void;
  /** RPCs to leave out (e.g. ones the pool type cannot answer in bounded time by design). */
  skip?: string[];
}): Promise<FuzzReport> {
  const model = new ProtoModel();
  const rng = new Rng(o.seed);
  const gen = new Generator(model, rng, ctx);
  const rpcs = model.rpcs.filter((x) => !(o.skip ?? []).includes(`${x.service}.${x.method}`));
  const rep: FuzzReport = { seed: o.seed, requests: 0, raw: 0, answers: {}, byRpc: {}, slowest: { rpc: '', ms: 0 }, findings: [], undecodable: 0 };
  const raw = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  // Server-streaming RPCs (SnapshotMetadata): the first message or the status is the answer.
  const sendStream = (path: string, buf: Buffer) => new Promise<{ code: string; details: string; ms: number }>((resolve) => {
    const t0 = performance.now();
    const call = raw.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, buf, { deadline: Date.now() + o.boundMs * 2 });
    let done = false;
    const finish = (code: string, details: string) => { if (!done) { done = true; call.cancel(); resolve({ code, details, ms: Math.round(performance.now() - t0) }); } };
    call.on('data', () => finish('OK', ''));
    call.on('error', (e: grpc.ServiceError) => finish(codeName(e.code), e.details ?? ''));
    call.on('end', () => finish('OK', ''));
  });
  const sendRaw = (path: string, buf: Buffer) => new Promise<{ code: string; details: string; ms: number }>((resolve) => {
    const t0 = performance.now();
    raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, buf, { deadline: Date.now() + o.boundMs * 2 }, (err) => {
      resolve({ code: err ? codeName(err.code) : 'OK', details: err?.details ?? '', ms: Math.round(performance.now() - t0) });
    });
  });
  try {
    for (let i = 0; i < o.requests; i++) {
      const rpc = rng.pick(rpcs);
      const name = `${rpc.service}.${rpc.method}`;
      let r: { code: string; details: string; ms: number };
      let shown = '';
      const path = `/csi.v1.${rpc.service}/${rpc.method}`;
      if (rpc.streaming) {
        const req = gen.message(rpc.request);
        shown = JSON.stringify(req).slice(0, 600);
        let buf: Buffer;
        try { buf = rpc.serialize(req); } catch { buf = gen.raw(rpc.request); }
        r = await sendStream(path, buf);
      } else if (rng.chance(0.1)) {
        const buf = gen.raw(rpc.request);
        rep.raw++;
        shown = `raw ${buf.subarray(0, 64).toString('hex')}${buf.length > 64 ? '...' : ''} (${buf.length} bytes)`;
        r = await sendRaw(path, buf);
      } else {
        const template = ctx.templates[name];
        const req = template && rng.chance(0.5) ? gen.mutate(rpc.request, template) : gen.message(rpc.request);
        shown = JSON.stringify(req, (_k, v) => (typeof v === 'string' && v.length > 200 ? `${v.slice(0, 40)}...(${v.length} chars)` : v)).slice(0, 600);
        r = await client.call(name, req, o.boundMs * 2);
      }
      rep.requests++;
      rep.byRpc[name] = (rep.byRpc[name] ?? 0) + 1;
      rep.answers[r.code] = (rep.answers[r.code] ?? 0) + 1;
      if (r.ms > rep.slowest.ms) rep.slowest = { rpc: name, ms: r.ms };
      const find = (what: string) => { rep.findings.push({ seed: o.seed, index: i, rpc: name, what, request: shown }); o.log?.(`  ! fuzz #${i} ${name}: ${what}`); };
      if (r.code === 'INTERNAL' && shown.startsWith('raw ') && r.details === 'Error deserializing request') rep.undecodable++;
      else if (SERVER_FAULT.has(r.code)) find(`${r.code}: ${r.details.slice(0, 300)}`);
      if (r.ms > o.boundMs || r.code === 'DEADLINE_EXCEEDED') find(`answered in ${r.ms} ms (bound ${o.boundMs} ms): ${r.code}`);
      if (!o.alive()) { find(`the driver exited after this request`); break; }
      if (i % 1000 === 999) o.log?.(`  fuzz ${i + 1}/${o.requests}`);
    }
  } finally {
    raw.close();
  }
  return rep;
}
