#!/usr/bin/python3
# poolcsi's librbd helper: one long-lived process per Ceph cluster and user that runs the rbd
# commands the controller uses most on one open cluster connection (python3-rbd and
# python3-rados, which ceph-common depends on), instead of one `rbd` process per command. An
# `rbd` run costs a process start, librados' start and a new monitor session (about a second
# of CPU on a small node); here a command costs its own requests only (src/backends/rbd/librbd.ts
# says how the driver uses it).
#
# Protocol, one JSON document per line:
#   stdin, first line: {"key": "<cephx key>"} (never in argv); then requests
#     {"id": N, "program": "rbd" | "ceph", "argv": [...]}: argv as the driver gives `rbd`/`ceph`
#     (after the connection arguments);
#   stdout, first line: {"ready": true} or {"ready": false, "errno": E, "err": "..."}; then
#     {"id": N, "out": "<what `rbd ... --format json` prints>"} or
#     {"id": N, "errno": E, "err": "..."} (E as the tool's exit code) or
#     {"id": N, "unsupported": true} (the driver runs the `rbd` program instead).
# Each request runs in its own thread (librbd releases the GIL). At end of input no new request
# starts; those running finish, then the process exits, as `rbd` processes outlive a killed
# driver. Before each request the monitors must have answered within the connect timeout
# (a statfs, shared by concurrent requests): with the monitors away a command fails as `rbd`
# does, ETIMEDOUT, instead of going on with the OSDs alone.
import argparse
import errno as E
import json
import os
import sys
import threading
import time

try:
    import rados
    import rbd
except ImportError as e:  # python3-rbd / python3-rados missing: the driver runs `rbd` instead
    sys.stdout.write(json.dumps({"ready": False, "missing": True, "errno": E.ENOENT, "err": str(e)}) + "\n")
    sys.exit(3)

OUT = threading.Lock()


def send(doc):
    line = json.dumps(doc, separators=(",", ":")) + "\n"
    with OUT:
        sys.stdout.write(line)
        sys.stdout.flush()


class Fail(Exception):
    def __init__(self, errno, message):
        super().__init__(message)
        self.errno = errno


class Unsupported(Exception):
    pass


# Exceptions without an errno, by class: what `rbd` exits with for the same failure.
BY_CLASS = [
    (KeyError, E.ENOENT),
    (getattr(rbd, "ImageNotFound", ()), E.ENOENT),
    (getattr(rbd, "ImageExists", ()), E.EEXIST),
    (getattr(rbd, "ImageBusy", ()), E.EBUSY),
    (getattr(rbd, "ImageHasSnapshots", ()), E.ENOTEMPTY),
    (getattr(rbd, "InvalidArgument", ()), E.EINVAL),
    (getattr(rbd, "PermissionError", ()), E.EPERM),
    (getattr(rbd, "ReadOnlyImage", ()), E.EROFS),
    (getattr(rbd, "NoSpace", ()), E.ENOSPC),
    (getattr(rbd, "Timeout", ()), E.ETIMEDOUT),
    (getattr(rados, "TimedOut", ()), E.ETIMEDOUT),
    (getattr(rados, "ObjectNotFound", ()), E.ENOENT),
    (getattr(rados, "PermissionDeniedError", ()), E.EACCES),
    (getattr(rados, "PermissionError", ()), E.EPERM),
]


def errno_of(e):
    n = getattr(e, "errno", None)
    if isinstance(n, int) and n != 0:
        return abs(n)
    for cls, code in BY_CLASS:
        if cls and isinstance(e, cls):
            return code
    return E.EIO


def ctime(dt):
    # rbd prints ctime(3) times in its zone; the driver runs both with TZ=UTC.
    return dt.strftime("%a %b ") + ("%2d" % dt.day) + dt.strftime(" %H:%M:%S %Y")


OP_FEATURES = [(1, "clone-parent"), (2, "clone-child"), (4, "group"), (8, "snap-trash")]
FLAGS = [(1, "object map invalid"), (2, "fast diff invalid")]
SNAP_NS = {0: "user", 1: "group", 2: "trash", 3: "mirror"}


class Args:
    """A command's argv: positionals, and the options poolcsi passes."""
    VALUED = {"--format", "--pool", "--image-id", "--size", "--image-feature", "--data-pool",
              "--rbd-default-clone-format", "--connect-timeout"}
    FLAGS = {"--all", "--long", "-l", "--no-progress"}

    def __init__(self, argv):
        self.pos, self.opt = [], {}
        i = 0
        while i < len(argv):
            a = argv[i]
            if a in self.VALUED and i + 1 < len(argv):
                self.opt[a] = argv[i + 1]
                i += 2
            elif a in self.FLAGS:
                self.opt[a] = True
                i += 1
            elif a.startswith("-"):
                raise Unsupported()
            else:
                self.pos.append(a)
                i += 1


def spec(text):
    """pool/image[@snap]"""
    pool, sep, rest = text.partition("/")
    if not sep or not pool or not rest:
        raise Fail(E.EINVAL, "rbd: image spec %r is not pool/image[@snap]" % text)
    image, _, snap = rest.partition("@")
    return pool, image, (snap or None)


def size_of(text):
    if not text.endswith("B") or not text[:-1].isdigit():
        raise Unsupported()
    return int(text[:-1])


class Helper:
    def __init__(self, cluster):
        self.cluster = cluster
        self.rbd = rbd.RBD()
        # Each request opens its own I/O contexts and closes them when it ends: one context
        # shared by every thread went with a glibc abort in the reliability lane (a corrupted
        # mutex, 20 requests at once, 2026-12-04), and an open is a local lookup.
        self.mine = threading.local()
        self.lock = threading.Lock()
        self.timeout = float(cluster.conf_get("client_mount_timeout"))
        self.check = None  # the statfs in flight: an Event and its outcome

    def ioctx(self, pool):
        opened = self.mine.ioctxs
        io = opened.get(pool)
        if io is None:
            io = opened[pool] = self.cluster.open_ioctx(pool)
        return io

    def monitors(self):
        """Raises ETIMEDOUT unless the monitors answer within the connect timeout. Every command
        asks (a statfs: a millisecond), sharing a check in flight: trusting an earlier answer
        for even a second let a create through with the monitors just gone (CI, 2026-12-03)."""
        with self.lock:
            check = self.check
            if check is None:
                check = self.check = {"done": threading.Event(), "ok": False}
                threading.Thread(target=self.statfs, args=(check,), daemon=True).start()
        if not check["done"].wait(self.timeout) or not check["ok"]:
            raise Fail(E.ETIMEDOUT, "the Ceph monitors did not answer within %g s (connection timed out)" % self.timeout)

    def statfs(self, check):
        try:
            self.cluster.get_cluster_stats()
            check["ok"] = True
        except Exception:
            pass
        finally:
            with self.lock:
                self.check = None
            check["done"].set()

    def image(self, io, name=None, image_id=None, read_only=False):
        if image_id is not None:
            return rbd.Image(io, image_id=image_id, read_only=read_only)
        return rbd.Image(io, name, read_only=read_only)

    # --- commands, each answering what `rbd <command> --format json` prints ---

    def info(self, a):
        if a.opt.get("--image-id"):
            pool, io = a.opt["--pool"], self.ioctx(a.opt["--pool"])
            img = self.image(io, image_id=a.opt["--image-id"], read_only=True)
        else:
            pool, name, _ = spec(a.pos[1])
            io = self.ioctx(pool)
            img = self.image(io, name, read_only=True)
        with img:
            st = img.stat()
            op = img.op_features()
            doc = {
                "name": img.get_name(), "id": img.id(), "size": st["size"], "objects": st["num_objs"],
                "order": st["order"], "object_size": st["obj_size"],
                # Every namespace, as `rbd info` counts them (a snapshot kept in the trash for a clone too).
                "snapshot_count": sum(1 for _ in img.list_snaps()),
                "block_name_prefix": st["block_name_prefix"], "format": 2,
                "features": sorted_features(self.rbd.features_to_string(img.features())),
                "op_features": [n for bit, n in OP_FEATURES if op & bit],
                "flags": [n for bit, n in FLAGS if img.flags() & bit],
                "create_timestamp": ctime(img.create_timestamp()),
                "access_timestamp": ctime(img.access_timestamp()),
                "modify_timestamp": ctime(img.modify_timestamp()),
            }
            try:
                p = img.get_parent_image_spec()
            except rbd.ImageNotFound:
                p = None
            if p:
                pid = img.parent_id()
                pio = self.ioctx(p["pool_name"])
                try:
                    self.rbd.trash_get(pio, pid)
                    trash = True
                except rbd.ImageNotFound:
                    trash = False
                doc["parent"] = {"pool": p["pool_name"], "pool_namespace": p["pool_namespace"],
                                 "image": p["image_name"], "id": pid, "snapshot": p["snap_name"],
                                 "trash": trash, "overlap": img.overlap()}
        return doc

    def snaps(self, a):
        if a.opt.get("--image-id"):
            io = self.ioctx(a.opt["--pool"])
            img = self.image(io, image_id=a.opt["--image-id"], read_only=True)
        else:
            pool, name, _ = spec(a.pos[2])
            img = self.image(self.ioctx(pool), name, read_only=True)
        out = []
        with img:
            for s in img.list_snaps():
                ns = s.get("namespace", 0)
                if ns != 0 and "--all" not in a.opt:
                    continue
                n = {"type": SNAP_NS.get(ns, str(ns))}
                if ns == 2 and s.get("trash"):
                    n["original_name"] = s["trash"].get("original_name", "")
                out.append({"id": s["id"], "name": s["name"], "size": s["size"],
                            "protected": "true" if ns == 0 and img.is_protected_snap(s["name"]) else "false",
                            "timestamp": ctime(img.get_snap_timestamp(s["id"])), "namespace": n})
        return out

    def meta_list(self, a):
        pool, name, _ = spec(a.pos[2])
        with self.image(self.ioctx(pool), name, read_only=True) as img:
            meta = {k: v for k, v in img.metadata_list()}
        return meta or ""  # `rbd image-meta list` prints nothing for none

    def meta_set(self, a):
        pool, name, _ = spec(a.pos[2])
        with self.image(self.ioctx(pool), name) as img:
            img.metadata_set(a.pos[3], a.pos[4])

    def meta_remove(self, a):
        pool, name, _ = spec(a.pos[2])
        with self.image(self.ioctx(pool), name) as img:
            img.metadata_remove(a.pos[3])

    def features(self, a):
        return self.rbd.features_from_string(a.opt["--image-feature"]) if "--image-feature" in a.opt else None

    def create(self, a):
        pool, name, _ = spec(a.pos[1])
        self.rbd.create(self.ioctx(pool), name, size_of(a.opt["--size"]), old_format=False,
                        features=self.features(a), data_pool=a.opt.get("--data-pool"))

    def clone(self, a):
        if a.opt.get("--rbd-default-clone-format") != "2":
            raise Unsupported()
        ppool, pname, psnap = spec(a.pos[1])
        pool, name, _ = spec(a.pos[2])
        if psnap is None:
            raise Fail(E.EINVAL, "rbd: clone needs a parent snapshot")
        self.rbd.clone(self.ioctx(ppool), pname, psnap, self.ioctx(pool), name,
                       features=self.features(a), data_pool=a.opt.get("--data-pool"))

    def resize(self, a):
        pool, name, _ = spec(a.pos[1])
        with self.image(self.ioctx(pool), name) as img:
            img.resize(size_of(a.opt["--size"]), allow_shrink=False)

    def feature_disable(self, a):
        pool, name, _ = spec(a.pos[2])
        with self.image(self.ioctx(pool), name) as img:
            img.update_features(self.rbd.features_from_string(",".join(a.pos[3:])), False)

    def snap_create(self, a):
        pool, name, snap = spec(a.pos[2])
        with self.image(self.ioctx(pool), name) as img:
            img.create_snap(snap)

    def snap_rm(self, a):
        pool, name, snap = spec(a.pos[2])
        with self.image(self.ioctx(pool), name) as img:
            img.remove_snap(snap)

    def rm(self, a):
        pool, name, _ = spec(a.pos[1])
        io = self.ioctx(pool)
        try:
            self.rbd.remove(io, name)
        except rbd.ImageHasSnapshots:
            # `rbd rm` tells an image kept only by snapshots its clones read (removed snapshots
            # in the trash namespace; the driver then moves the image to the trash) from one
            # with snapshots of its own, in words: the same words, by the same rule, here.
            if self.only_trashed_snapshots(io, name):
                raise Fail(E.ENOTEMPTY, "image has snapshots with linked clones - these must be deleted or flattened before the image can be removed.")
            raise Fail(E.ENOTEMPTY, "image has snapshots - these must be deleted with 'rbd snap purge' before the image can be removed.")
        except rbd.ImageBusy:
            raise Fail(E.EBUSY, "error: image still has watchers\nThis means the image is still open or the client using it crashed. Try again after closing/unmapping it or waiting 30s for the crashed client to timeout.")

    def only_trashed_snapshots(self, io, name):
        with self.image(io, name, read_only=True) as img:
            return all(s.get("namespace", 0) == 2 for s in img.list_snaps())

    def trash_mv(self, a):
        pool, name, _ = spec(a.pos[2])
        self.rbd.trash_move(self.ioctx(pool), name, 0)

    def trash_ls(self, a):
        io = self.ioctx(a.pos[2])
        now = time.time()
        out = []
        for t in self.rbd.trash_list(io):
            end = t["deferment_end_time"]
            expired = end.timestamp() <= now if hasattr(end, "timestamp") else True
            out.append({"id": t["id"], "name": t["name"], "source": t["source"],
                        "deleted_at": ctime(t["deletion_time"]),
                        "status": ("expired at " if expired else "protected until ") + ctime(end)})
        return out

    def trash_rm(self, a):
        self.rbd.trash_remove(self.ioctx(a.opt["--pool"]), a.opt["--image-id"])

    def ls_long(self, a):
        io = self.ioctx(a.pos[1])
        out = []
        for e in self.rbd.list2(io):
            try:
                with self.image(io, image_id=e["id"], read_only=True) as img:
                    size = img.size()
                    entry = {"image": e["name"], "id": e["id"], "size": size}
                    try:
                        p = img.get_parent_image_spec()
                        entry["parent"] = {"pool": p["pool_name"], "pool_namespace": p["pool_namespace"],
                                           "image": p["image_name"], "snapshot": p["snap_name"]}
                    except rbd.ImageNotFound:
                        pass
                    entry["format"] = 2
                    snaps = [s for s in img.list_snaps() if s.get("namespace", 0) == 0]
                    out.append(entry)
                    for s in snaps:
                        out.append({"image": e["name"], "id": e["id"], "snapshot": s["name"], "snapshot_id": s["id"],
                                    "size": s["size"], "format": 2,
                                    "protected": "true" if img.is_protected_snap(s["name"]) else "false"})
            except rbd.ImageNotFound:
                continue  # removed since the listing, as `rbd ls -l` skips it
        return out

    def ls(self, a):
        if "-l" in a.opt:
            return self.ls_long(a)
        return "".join(e["name"] + "\n" for e in self.rbd.list2(self.ioctx(a.pos[1])))

    def df(self, a):
        ret, out, errs = self.cluster.mon_command(json.dumps({"prefix": "df", "format": "json"}), b"")
        if ret != 0:
            raise Fail(abs(ret), errs or "ceph df failed")
        return out.decode("utf-8")

    def run(self, program, argv):
        a = Args(argv)
        p = a.pos
        if program == "ceph":
            table = {("df",): self.df}
        else:
            table = {
                ("info",): self.info, ("image-meta", "list"): self.meta_list, ("image-meta", "set"): self.meta_set,
                ("image-meta", "remove"): self.meta_remove, ("create",): self.create, ("clone",): self.clone,
                ("resize",): self.resize, ("feature", "disable"): self.feature_disable, ("snap", "ls"): self.snaps,
                ("snap", "create"): self.snap_create, ("snap", "rm"): self.snap_rm, ("rm",): self.rm,
                ("trash", "mv"): self.trash_mv, ("trash", "ls"): self.trash_ls, ("trash", "rm"): self.trash_rm,
                ("ls",): self.ls,
            }
        fn = table.get(tuple(p[:2])) or table.get(tuple(p[:1]))
        if fn is None:  # other commands (flatten, device ...) run as `rbd`
            raise Unsupported()
        self.monitors()
        self.mine.ioctxs = {}
        try:
            r = fn(a)
        finally:
            for io in self.mine.ioctxs.values():
                io.close()
            self.mine.ioctxs = {}
        if r is None:
            return ""
        return r if isinstance(r, str) else json.dumps(r, separators=(",", ":"))


def sorted_features(text):
    # `rbd info` lists features in bit order; features_to_string sorts them by name.
    order = ["layering", "striping", "exclusive-lock", "object-map", "fast-diff", "deep-flatten",
             "journaling", "data-pool", "operations", "migrating", "non-primary"]
    names = [f for f in text.split(",") if f]
    return sorted(names, key=lambda f: order.index(f) if f in order else len(order))


def serve(helper):
    running = []
    sem = threading.BoundedSemaphore(32)

    def one(req):
        try:
            out = helper.run(req["program"], req["argv"])
            send({"id": req["id"], "out": out})
        except IndexError:  # a command without its operands: `rbd` would refuse it too
            send({"id": req["id"], "errno": E.EINVAL, "err": "rbd: missing operand"})
        except Unsupported:
            send({"id": req["id"], "unsupported": True})
        except Fail as e:
            send({"id": req["id"], "errno": e.errno, "err": "rbd: %s" % e})
        except Exception as e:  # librbd/librados failures carry their errno
            send({"id": req["id"], "errno": errno_of(e), "err": "rbd: %s: %s" % (type(e).__name__, e)})
        finally:
            sem.release()

    for line in sys.stdin:
        try:
            req = json.loads(line)
            if not isinstance(req.get("id"), int) or req.get("program") not in ("rbd", "ceph") \
                    or not isinstance(req.get("argv"), list) or not all(isinstance(x, str) for x in req["argv"]):
                raise ValueError("bad request")
        except ValueError:
            continue
        sem.acquire()
        t = threading.Thread(target=one, args=(req,), daemon=True)
        t.start()
        running.append(t)
        running = [x for x in running if x.is_alive()]
    for t in running:  # the driver is gone: what runs finishes, as orphaned `rbd` runs would
        t.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mon-host", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--client-mount-timeout", required=True)
    ap.add_argument("--rados-mon-op-timeout", required=True)
    ap.add_argument("--rados-osd-op-timeout", required=True)
    o = ap.parse_args()
    first = sys.stdin.readline()
    try:
        key = json.loads(first)["key"]
    except (ValueError, KeyError, TypeError):
        send({"ready": False, "errno": E.EINVAL, "err": "the first line must carry the key"})
        return 2
    conf = {
        "mon_host": o.mon_host, "key": key,
        "client_mount_timeout": o.client_mount_timeout,
        "rados_mon_op_timeout": o.rados_mon_op_timeout,
        "rados_osd_op_timeout": o.rados_osd_op_timeout,
        "rbd_default_clone_format": "2",
        # A long-lived connection hunts for a monitor again after an outage, at intervals that
        # grow by half each miss up to ten times 3 s: the monitors back, a command could wait
        # 30 s for the next try (CI, rbd-cluster, 2026-12-04). Each try costs a connect.
        "mon_client_hunt_interval": "1",
        "mon_client_hunt_interval_max_multiple": "2",
        "log_to_stderr": "false", "err_to_stderr": "true",
    }
    try:
        cluster = rados.Rados(conffile="", conf=conf, rados_id=o.id)
        cluster.connect(timeout=int(float(o.client_mount_timeout)))
    except Exception as e:
        send({"ready": False, "errno": errno_of(e), "err": "rbd: connecting: %s: %s" % (type(e).__name__, e)})
        return 1
    del key, conf
    send({"ready": True, "pid": os.getpid()})
    serve(Helper(cluster))
    return 0


if __name__ == "__main__":
    sys.exit(main())
