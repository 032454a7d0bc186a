// The SCSI commands an `iscsi-luns` pool sends through its session (session.ts): the target's
// LUN inventory (REPORT LUNS, INQUIRY with the device identification page, READ CAPACITY(16))
// and the wipe of a released LUN (WRITE SAME(16) of zeros, WRITE(16) where a target has no
// WRITE SAME, then SYNCHRONIZE CACHE).
import { IscsiSessionError, lunOf, ScsiError, type IscsiSession } from './session.js';

export interface LunInfo {
  lun: number;
  /** Size in bytes (READ CAPACITY). */
  sizeBytes: number;
  blockBytes: number;
  /** The LUN's identity as Linux shows it in /sys/block/sdX/device/wwid (naa.…, eui.…, t10.…). */
  wwid: string;
  vendor: string;
  model: string;
}

const cdb = (...bytes: number[]) => { const b = Buffer.alloc(16); Buffer.from(bytes).copy(b); return b; };

/** A command, run again while the LUN reports a unit attention (the first after a login, a resize...). */
async function run(s: IscsiSession, lun: number, c: Buffer, dir: Parameters<IscsiSession['command']>[2], what: string) {
  for (let i = 0; ; i++) {
    try {
      return await s.command(lun, c, dir, what);
    } catch (e) {
      if (e instanceof ScsiError && e.unitAttention && i < 4) continue;
      throw e;
    }
  }
}

export async function reportLuns(s: IscsiSession): Promise<number[]> {
  const alloc = 8 + 8 * 1024;
  const c = cdb(0xa0, 0, 0, 0, 0, 0);
  c.writeUInt32BE(alloc, 6);
  const { data } = await run(s, 0, c, { dataIn: alloc }, 'REPORT LUNS');
  const len = Math.min(data.readUInt32BE(0), data.length - 8);
  const out: number[] = [];
  for (let at = 8; at + 8 <= 8 + len; at += 8) {
    const n = lunOf(data.subarray(at, at + 8));
    if (n !== undefined) out.push(n);
  }
  return out.sort((a, b) => a - b);
}

/** Peripheral type (0 = direct access block device) and qualifier (0 = connected), vendor, model. */
export async function inquiry(s: IscsiSession, lun: number): Promise<{ type: number; connected: boolean; vendor: string; model: string }> {
  const { data } = await run(s, lun, cdb(0x12, 0, 0, 0, 96, 0), { dataIn: 96 }, `INQUIRY of LUN ${lun}`);
  if (data.length < 36) throw new IscsiSessionError('protocol', `INQUIRY of LUN ${lun} returned ${data.length} bytes`);
  return {
    type: data[0]! & 0x1f,
    connected: data[0]! >> 5 === 0,
    vendor: data.subarray(8, 16).toString('latin1').trim(),
    model: data.subarray(16, 32).toString('latin1').trim(),
  };
}

/** The Device Identification page (0x83) as Linux names it: the NAA designator first, then EUI-64, SCSI name, T10. */
export function wwidOf(page: Buffer): string | undefined {
  const found = new Map<number, string>();
  const end = Math.min(4 + page.readUInt16BE(2), page.length);
  for (let at = 4; at + 4 <= end;) {
    const codeSet = page[at]! & 0x0f, assoc = (page[at + 1]! >> 4) & 0x3, type = page[at + 1]! & 0x0f, len = page[at + 3]!;
    const id = page.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    if (assoc !== 0 || found.has(type)) continue; // the logical unit's own designators only
    if (type === 3) found.set(3, `naa.${id.toString('hex')}`);
    else if (type === 2) found.set(2, `eui.${id.toString('hex')}`);
    else if (type === 8 && codeSet === 3) found.set(8, id.toString('utf8').replace(/\0+$/, ''));
    else if (type === 1 && codeSet === 2) found.set(1, `t10.${id.toString('latin1').trim().replace(/ +/g, ' ')}`);
  }
  for (const t of [3, 2, 8, 1]) if (found.has(t)) return found.get(t);
  return undefined;
}

export async function identify(s: IscsiSession, lun: number): Promise<string | undefined> {
  const { data } = await run(s, lun, cdb(0x12, 1, 0x83, 0x01, 0, 0), { dataIn: 256 }, `INQUIRY page 0x83 of LUN ${lun}`);
  return data.length >= 4 ? wwidOf(data) : undefined;
}

export async function readCapacity(s: IscsiSession, lun: number): Promise<{ sizeBytes: number; blockBytes: number }> {
  const c = cdb(0x9e, 0x10);
  c.writeUInt32BE(32, 10);
  const { data } = await run(s, lun, c, { dataIn: 32 }, `READ CAPACITY(16) of LUN ${lun}`);
  const last = data.readBigUInt64BE(0), block = data.readUInt32BE(8);
  return { sizeBytes: Number((last + 1n) * BigInt(block)), blockBytes: block };
}

/** Every block-device LUN of the target with its size and identity; other device types are left out. */
export async function inventory(s: IscsiSession): Promise<LunInfo[]> {
  const out: LunInfo[] = [];
  for (const lun of await reportLuns(s)) {
    const inq = await inquiry(s, lun);
    if (inq.type !== 0 || !inq.connected) continue;
    const wwid = await identify(s, lun);
    // A LUN without a stable identity cannot be claimed safely (its number may be remapped).
    if (!wwid) continue;
    const cap = await readCapacity(s, lun);
    out.push({ lun, wwid, vendor: inq.vendor, model: inq.model, ...cap });
  }
  return out;
}

/** WRITE SAME's largest run in blocks, from the Block Limits page (0 when the target gives none). */
async function maxWriteSame(s: IscsiSession, lun: number): Promise<number> {
  try {
    const { data } = await run(s, lun, cdb(0x12, 1, 0xb0, 0, 64, 0), { dataIn: 64 }, `INQUIRY page 0xb0 of LUN ${lun}`);
    return data.length >= 44 ? Number(data.readBigUInt64BE(36)) : 0;
  } catch (e) {
    if (e instanceof ScsiError && e.illegalRequest) return 0;
    throw e;
  }
}

/**
 * Zeroes the whole LUN. WRITE SAME(16) sends one zero block per run of blocks; a target that
 * refuses it gets plain WRITE(16)s of zeros. Ends with SYNCHRONIZE CACHE so the zeros are on
 * the target's disk when this returns. `progress` is told the bytes done so far.
 */
export async function wipe(s: IscsiSession, lun: number, sizeBytes: number, blockBytes: number, progress?: (done: number) => void): Promise<void> {
  const blocks = Math.floor(sizeBytes / blockBytes);
  const limit = await maxWriteSame(s, lun);
  let useSame = true;
  const sameRun = Math.min(limit > 0 ? limit : 0x1000, 0xffff);
  const writeRun = Math.max(1, Math.floor(262144 / blockBytes));
  const zeroBlock = Buffer.alloc(blockBytes);
  const zeros = Buffer.alloc(writeRun * blockBytes);
  for (let lba = 0; lba < blocks;) {
    const n = Math.min(blocks - lba, useSame ? sameRun : writeRun);
    const c = cdb(useSame ? 0x93 : 0x8a);
    c.writeBigUInt64BE(BigInt(lba), 2);
    c.writeUInt32BE(n, 10);
    try {
      await run(s, lun, c, { dataOut: useSame ? zeroBlock : zeros.subarray(0, n * blockBytes) }, `${useSame ? 'WRITE SAME(16)' : 'WRITE(16)'} of LUN ${lun}`);
    } catch (e) {
      if (useSame && e instanceof ScsiError && e.illegalRequest) { useSame = false; continue; }
      throw e;
    }
    lba += n;
    progress?.(lba * blockBytes);
  }
  await run(s, lun, cdb(0x35), {}, `SYNCHRONIZE CACHE of LUN ${lun}`);
}
