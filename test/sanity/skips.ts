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
