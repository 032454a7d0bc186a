// The controller-side contract every pool type implements: a Store (volumes, snapshots,
// capacity, and the node context that tells a node how to reach a volume) and an Exporter
// (access grants on publish). Backends speak storage, never gRPC: sizes in bytes, names
// already validated, failures as StorageError. How a node reaches a volume is not here: that
// is a node transport (node/transports/), which gets only what nodeContext() describes.
import type { Pool, VolumeMode } from '../pools/schema.js';

export type VolumeSource =
  | { kind: 'snapshot'; volume: string; snapshot: string }
  | { kind: 'volume'; volume: string };

export interface PvcRef { namespace: string; name: string; pvName?: string }

export interface CreateSpec {
  /** Backend object name (already derived and validated). */
  name: string;
  /** The CO's request name, recorded so a different request mapping to the same name is caught. */
  requestName: string;
  sizeBytes: number;
  /** 0 = no upper bound. */
  limitBytes: number;
  mode: VolumeMode;
  /** Pool defaults merged with StorageClass parameters, already validated for the type. */
  params: Readonly<Record<string, string>>;
  source?: VolumeSource;
  pvc?: PvcRef;
}

export interface VolumeRecord {
  name: string;
  requestName: string;
  sizeBytes: number;
  mode: VolumeMode;
  source?: VolumeSource;
  pvc?: PvcRef;
  params: Record<string, string>;
  /** False while a create is half done (a crash left it; the next create finishes it). */
  complete: boolean;
  /** The node holding a node-local volume. */
  node?: string;
  createdAt?: string;
  /**
   * Where the volume lives in its pool when its name alone does not say (nfs: the directory
   * under the export, rendered from the subdir template at create). nodeContext reads it.
   */
  location?: string;
  /** Nodes the volume is published to, with the read-only flag each got. */
  published?: Record<string, { readonly: boolean }>;
}

export interface SnapshotRecord {
  volume: string;
  name: string;
  requestName: string;
  sizeBytes: number;
  createdAt: string;
  ready: boolean;
}

export interface Capacity {
  totalBytes: number;
  availableBytes: number;
  /** Largest single volume the pool can make now (defaults to availableBytes). */
  maxVolumeBytes?: number;
  /** Caveats the operator should know (e.g. sizes not enforced). */
  notes?: string[];
}

export interface PublishOptions { readonly: boolean; multiNode: boolean }

/** Static facts about a pool type, used to advertise and check capabilities. */
export interface TypeTraits {
  /** Node-local: volumes live on one node, controller work is delegated to that node's agent. */
  local: boolean;
  modes: readonly VolumeMode[];
  snapshots: boolean;
  clones: boolean;
  expand: boolean;
  /** Whether volumes are block devices the node formats (fsType and mkfsOptions apply). */
  makesFilesystem: boolean;
  /** Whether the node must grow a filesystem after the controller grew the volume. */
  nodeExpand: boolean;
  /** Access from several nodes at once, per volume mode. */
  multiNode: { filesystem: boolean; block: boolean };
  /** Why the type has no block volumes, when that needs saying (capability checks quote it). */
  blockReason?: string;
  /** StorageClass / pool-default parameters this type understands (besides the common ones). */
  params: readonly string[];
}

/** Per-call extras from the CO: CSI secrets (cephx keys, CHAP...). Never logged. */
export interface CallOptions { secrets?: Readonly<Record<string, string>> }

/** What a volume's node context is computed from: its name, and its location where the type records one. */
export type VolumeLocation = Pick<VolumeRecord, 'name' | 'location'>;

/** How a node reaches a volume: a transport kind and its descriptor (node/context.ts). */
export interface NodeContext {
  transport: string;
  descriptor: Record<string, string>;
}

/** Volumes, snapshots, capacity: what the controller (or a node's agent for node-local pools) runs. */
export interface Store {
  readonly pool: Pool;
  readonly traits: TypeTraits;

  createVolume(spec: CreateSpec, call?: CallOptions): Promise<VolumeRecord>;
  /** Succeeds when the volume does not exist. */
  deleteVolume(name: string, call?: CallOptions): Promise<void>;
  getVolume(name: string, call?: CallOptions): Promise<VolumeRecord | undefined>;
  listVolumes(call?: CallOptions): Promise<VolumeRecord[]>;
  /** Grows to at least sizeBytes; OUT_OF_RANGE, with nothing changed, when the size it would
   * make (rounded up to the backend's unit) exceeds limitBytes (0 = no limit). */
  expandVolume(name: string, sizeBytes: number, limitBytes: number, call?: CallOptions): Promise<VolumeRecord>;

  createSnapshot(volume: string, name: string, requestName: string, call?: CallOptions): Promise<SnapshotRecord>;
  /** Succeeds when the snapshot does not exist. */
  deleteSnapshot(volume: string, name: string, call?: CallOptions): Promise<void>;
  getSnapshot(volume: string, name: string, call?: CallOptions): Promise<SnapshotRecord | undefined>;
  listSnapshots(call?: CallOptions): Promise<SnapshotRecord[]>;

  capacity(call?: CallOptions): Promise<Capacity>;

  /** The transport descriptor any node needs for this volume (no secrets: it lands in the PV). */
  nodeContext(rec: VolumeRecord): NodeContext;
}

/**
 * Access grants (iSCSI ACLs, NFS exports...). No type grants anything on the backend yet: dir,
 * lvm, lvmthin and rbd only record the publication (the read-only flag per node).
 */
export interface Exporter {
  /**
   * Grant `node` access and record it on the backend. Returns the publish context.
   * Same node again with other options → StorageError 'exists'.
   */
  publish(name: string, node: string, opts: PublishOptions, call?: CallOptions): Promise<Record<string, string>>;
  /** Revoke access for `node` (all nodes when undefined). Idempotent. */
  unpublish(name: string, node?: string, call?: CallOptions): Promise<void>;
}

/** What the controller routes calls to. */
export type Backend = Store & Exporter;
