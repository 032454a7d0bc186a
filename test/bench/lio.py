# The bare side of the benchmark's zfs-iscsi export (test/bench/ops.ts), in the ZFS guest, which
# has rtslib, targetcli's library, but not targetcli: what one `targetcli` command does for a
# person (the objects, then the saved configuration), one process per step as the bench's
# iscsi kind runs one targetcli per step.
#   lio.py export IQN NAME DEVICE INITIATOR   a block object, a target with LUN 0, an ACL
#   lio.py unacl IQN INITIATOR                the ACL removed
#   lio.py unexport IQN NAME                  the target and the object removed
import sys
from rtslib_fb import (LUN, TPG, BlockStorageObject, FabricModule, MappedLUN, NetworkPortal,
                       NodeACL, RTSRoot, Target)

op, iqn = sys.argv[1], sys.argv[2]
if op == 'export':
    name, dev, initiator = sys.argv[3:6]
    so = BlockStorageObject(name, dev=dev)
    tpg = TPG(Target(FabricModule('iscsi'), iqn), 1)
    tpg.set_attribute('authentication', '0')
    NetworkPortal(tpg, '0.0.0.0', 3260)
    lun = LUN(tpg, 0, so)
    MappedLUN(NodeACL(tpg, initiator), 0, lun)
    tpg.enable = True
elif op == 'unacl':
    tpg = TPG(Target(FabricModule('iscsi'), iqn, mode='lookup'), 1, mode='lookup')
    NodeACL(tpg, sys.argv[3], mode='lookup').delete()
elif op == 'unexport':
    Target(FabricModule('iscsi'), iqn, mode='lookup').delete()
    BlockStorageObject(sys.argv[3]).delete()
else:
    sys.exit(f'lio.py: unknown operation {op}')
RTSRoot().save_to_file()
