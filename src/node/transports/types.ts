// The node transports: how a volume becomes reachable on this node (a bind of a directory, a
// local LV, a krbd mapping, an NFS mount; iscsi next). A transport gets the descriptor the controller
// put into volume_context, never a pool definition, and later only the stash it returned.
export interface Condition { abnormal: boolean; message: string }

/**
 * How long one report of a whole VG or ZFS parent answers VolumeCondition (NodeGetVolumeStats):
 * the kubelet asks for every mounted volume's stats once a minute, so one report serves the
 * volumes asked within this window instead of one program per volume (100 volumes: at most 6
 * programs a minute, not 100). A condition is at most this old; an attach on this node drops
 * the report, so a new volume shows at once.
 */
export const HEALTH_TTL_MS = 10_000;

/** A descriptor: the flat `<transport>.<key>` values of volume_context, prefix removed. */
export type Descriptor = Readonly<Record<string, string>>;

export interface AttachOptions {
  /** The CO's node-stage secrets (cephx user and key, CHAP...). Never logged, never stashed. */
  secrets?: Readonly<Record<string, string>>;
  publishContext: Readonly<Record<string, string>>;
  /** The staged capability is reader-only: attach read-only where the transport can. */
  readonly: boolean;
  /** volume_context and capability mount options, checked; only for a transport that takesMountOptions. */
  mountOptions?: readonly string[];
}

export type Attached = ({ kind: 'device'; path: string } | { kind: 'directory'; path: string }) & {
  /** What detach and condition need later (e.g. the mapped device): strings only, no secrets. */
  stash: Record<string, string>;
  /** Whether the device itself is read-only (rbd map --read-only). */
  readonly?: boolean;
};

/** What detach, rescan and condition get back: the descriptor and the attach's stash. */
export interface Stashed {
  descriptor: Descriptor;
  stash: Readonly<Record<string, string>>;
  /** The attached device or directory. */
  path: string;
}

export interface Transport {
  readonly kind: string;
  /**
   * The transport mounts the filesystem itself (nfs): mount options go to its attach, and the
   * binds onto <staging>/mount and the target get none (a bind cannot change them).
   */
  readonly takesMountOptions?: boolean;
  /** Checks a descriptor from volume_context (external input): NodeError 'invalid' when bad. */
  parse(d: Descriptor): Descriptor;
  attach(d: Descriptor, o: AttachOptions): Promise<Attached>;
  /** Idempotent; never needs pool configuration or credentials. */
  detach(s: Stashed): Promise<void>;
  /** After a controller expand (iscsi rescans; rbd and lvm see the new size by themselves). */
  rescan?(s: Stashed): Promise<void>;
  condition(s: Stashed): Promise<Condition>;
}
