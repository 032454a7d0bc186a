// Every csi-sanity spec poolcsi skips, with the reason. The sanity tests fail when a spec is
// skipped that is not listed here, so a new skip cannot slip in unexplained.
export const SKIP_REASONS: Array<{ match: RegExp; reason: string }> = [
  {
    match: /^GroupController Service/,
    reason: 'poolcsi does not offer the GroupController service (volume group snapshots) yet; '
      + 'GetPluginCapabilities does not advertise GROUP_CONTROLLER_SERVICE, so csi-sanity skips these.',
  },
  {
    match: /^ModifyVolume \[Controller Server\]/,
    reason: 'ControllerModifyVolume (VolumeAttributesClass) is not implemented: no pool type has mutable '
      + 'parameters yet, so MODIFY_VOLUME is not advertised.',
  },
  {
    match: /volume attribute class/,
    reason: 'needs --csi.testvolumemutableparameters, which only applies to drivers with MODIFY_VOLUME.',
  },
  {
    match: /should fail when publishing more volumes than the node max attach limit/,
    reason: 'opt-in spec (--csi.testnodevolumeattachlimit); poolcsi reports max_volumes_per_node = 0 '
      + '(no limit) unless --max-volumes-per-node is set.',
  },
];

/**
 * Specs skipped for one pool type only, because the driver advertises a capability (snapshots,
 * clones, expansion) that other pool types have and this one lacks: csi-sanity tests a driver,
 * not a pool, and answers INVALID_ARGUMENT/UNIMPLEMENTED from such a pool as failures. The lab
 * test passes these to --ginkgo.skip and to checkSanity; the pool type's own lab test proves the
 * refusal (test/lab/iscsi-luns.test.ts: CreateSnapshot, a clone and ControllerExpandVolume are
 * INVALID_ARGUMENT).
 */
export const TYPE_SKIPS: Record<string, Array<{ match: RegExp; reason: string }>> = {
  'iscsi-luns': [
    {
      match: /(CreateSnapshot|DeleteSnapshot|ListSnapshots) \[Controller Server\]|CreateVolume should create volume from an existing source (snapshot|volume)/,
      reason: 'a volume of an iscsi-luns pool is a whole LUN of a foreign target: no snapshots and no clones (the type says so: traits.snapshots/clones false).',
    },
    {
      match: /ExpandVolume \[Controller Server\] should work|NodeExpandVolume should work/,
      reason: 'a LUN of an iscsi-luns pool has the size the target gave it: no expansion.',
    },
  ],
};

/** The --ginkgo.skip argument for a pool type's own skips. */
export function typeSkipArg(type: string): string[] {
  const list = TYPE_SKIPS[type] ?? [];
  return list.length ? [`--ginkgo.skip=${list.map((s) => s.match.source).join('|')}`] : [];
}
