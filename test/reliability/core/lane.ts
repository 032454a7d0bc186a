// What a pool type plugs into the harness: how to ask for its volumes over CSI, and a "truth"
// adapter that reads what the backend really holds (the directory tree, `lvs`, `rbd ls`, ...),
// never through the driver.
export const MiB = 1024 * 1024;

export interface TruthView {
  /** Volume names the backend holds (live ones, not tombstones or trash). */
  volumes: string[];
  /** Snapshots as `<volume>@<snapshot>`. */
  snapshots: string[];
  /** Anything else the driver made: temporary files, half-made or unnamed objects. */
  strays: string[];
  /** Volumes the lane's node may reach on the backend (iscsi: an ACL for its initiator), where
   * the type grants access in ControllerPublishVolume; compared with the CO's publishes. */
  access?: string[];
}

export interface Truth {
  read(): Promise<TruthView>;
  /** Puts some data into a volume so copies (snapshots, clones) take long enough to be killed in. */
  fill?(volume: string, rngValue: number): Promise<void>;
  /** Devices still mapped or attached for `volume` on this node (rbd: `rbd showmapped`). */
  attached?(volume: string): Promise<string[]>;
}

export interface Features {
  snapshots: boolean;
  clones: boolean;
  expand: boolean;
  /** ControllerPublish/Unpublish (asked from ControllerGetCapabilities when not given). */
  publish?: boolean;
  /** NodeStage/NodeUnstage crash rounds. */
  stage: boolean;
  /** A node stage needs ControllerPublish's publish_context first (iscsi: target, LUN, ACL). */
  stagePublish?: boolean;
}

export interface Lane {
  type: string;
  /** The pool under test. */
  pool: string;
  nodeId: string;
  /** volume_capability used for creates, stage and publish. */
  capability: Record<string, unknown>;
  /** Extra CreateVolume fields (accessibility_requirements, secrets). */
  createExtras?: Record<string, unknown>;
  /** Extra parameters besides `pool`. */
  parameters?: Record<string, string>;
  /** Secrets for calls that take them. */
  secrets?: Record<string, string>;
  sizesMiB: number[];
  features: Features;
  /** Kill points are drawn uniformly in [0, w) after a request is sent: w is how long the method's
   * recent calls took (core/crash.ts), at most killWindowMs. */
  killWindowMs: number;
  /** Per-call deadline the harness gives; a CO's sidecar uses similar ones. */
  callTimeoutMs: number;
  truth: Truth;
  /** Where stage rounds put their staging directories. */
  stagingRoot?: string;
}
