"""Named network namespaces without a process per namespace.

`ip netns add` costs a process and a mount-namespace copy each. Here a
namespace is made the way iproute2 makes it, in-process: a short-lived
thread unshares its network namespace and bind-mounts
/proc/self/task/TID/ns/net onto /run/netns/NAME, which keeps it alive.
The file under /run/netns is what `ip netns` shows, so users' tools see
the lab's namespaces as usual.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import struct
import threading

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8
MS_SLAVE = 1 << 19
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
CLONE_NEWNS = 0x00020000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def path(name: str) -> str:
    return os.path.join(NETNS_RUN_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def _ensure_run_dir() -> None:
    """Make /run/netns a shared mount point, as iproute2 does, so namespaces
    created here are visible from every mount namespace."""
    os.makedirs(NETNS_RUN_DIR, mode=0o755, exist_ok=True)
    d = NETNS_RUN_DIR.encode()
    if _libc.mount(b"", d, b"none", MS_SHARED | MS_REC, None) == 0:
        return
    if ctypes.get_errno() != errno.EINVAL:
        _check(-1, f"mount --make-rshared {NETNS_RUN_DIR}")
    _check(_libc.mount(d, d, b"none", MS_BIND | MS_REC, None), f"mount --bind {NETNS_RUN_DIR}")
    _check(_libc.mount(b"", d, b"none", MS_SHARED | MS_REC, None), f"mount --make-rshared {NETNS_RUN_DIR}")


def entry(name: str) -> str:
    """/run/netns/NAME, for a NAME that is exactly one entry of /run/netns: never a path out of it
    or below it (what state.inside checks of a path, without resolving /run/netns once more for
    each of a lab's thousands of namespaces)."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        from ...errors import LabError
        raise LabError(f"refusing to use namespace name {name!r}: it is not one entry of {NETNS_RUN_DIR}")
    return path(name)


CREATE_WORKERS = 4   # threads that create namespaces at once (at most one per CPU)


def create_many(names: list[str], tag: str | None = None, on_claimed=None,
                lo_up: bool = False) -> list[tuple[str, BaseException | None]]:
    """Create the named namespaces; returns (name, error or None) per name, in order.

    Each namespace is created by a worker thread (unshare moves only that thread; one
    worker per CPU, each taking every n-th name), so the calling thread's namespace never
    changes. The file under
    /run/netns is created with O_EXCL: a namespace that was already there is an error,
    never adopted. `on_claimed(name, cookie)` is called once that file is ours, before
    the namespace is mounted on it (the journal records it then), with the namespace's
    cookie (unique for the boot, never reused: `cookie()`), by which teardown knows it
    again without a netlink request. With `tag`, the new namespace's `lo` carries it as
    its alias *before* the namespace appears under its name, so a mounted namespace
    without the tag is provably someone else's; with `lo_up` too, the same request sets
    `lo` up (the deploy's first request in every namespace: one socket per namespace,
    not two). The namespace is made before its file is claimed: one whose name is taken
    is dropped unseen.
    """
    _ensure_run_dir()
    results: list[tuple[str, BaseException | None]] = [(name, None) for name in names]
    claim_lock = threading.Lock()   # on_claimed (the journal) is called by one worker at a time
    stop = threading.Event()        # the caller was interrupted: make no more
    busy = threading.Condition()    # guards `running`: workers inside their loop
    running = [0]

    def worker(first: int, step: int) -> None:
        with busy:
            running[0] += 1   # before the first look at `stop`: the caller waits for this worker
        try:
            _work(first, step)
        finally:
            with busy:
                running[0] -= 1
                busy.notify_all()

    def _work(first: int, step: int) -> None:
        tid = threading.get_native_id()
        src = f"/proc/self/task/{tid}/ns/net".encode()
        for i in range(first, len(names), step):
            if stop.is_set():
                return
            name = names[i]
            try:
                p = entry(name)   # one entry of /run/netns, nothing elsewhere
                _check(_libc.unshare(CLONE_NEWNET), f"unshare(CLONE_NEWNET) for {name}")
                ident = _tag_lo(tag, lo_up) if tag is not None else (cookie() if on_claimed else None)
                fd = os.open(p, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
                os.close(fd)
            except Exception as e:   # FileExistsError: not ours, left alone
                results[i] = (name, e)
                continue
            try:
                if on_claimed is not None:
                    with claim_lock:
                        on_claimed(name, ident)
                _check(_libc.mount(src, p.encode(), b"none", MS_BIND, None), f"bind-mount {p}")
            except Exception as e:   # the placeholder we created (O_EXCL above) goes again
                with contextlib.suppress(OSError):
                    os.unlink(p)
                results[i] = (name, e)

    # the kernel makes namespaces in parallel (copy_net_ns holds its lock shared): one worker per
    # CPU, up to CREATE_WORKERS, took 200 namespaces in 83 ms against 145 ms with one (2 cores)
    n = max(1, min(CREATE_WORKERS, len(os.sched_getaffinity(0)), len(names) // 8))
    threads = [threading.Thread(target=worker, args=(k, n), name=f"netns-create-{k}") for k in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    except BaseException:
        # Ctrl-C (also while a worker was being started: it may already run): every worker stops
        # before its next namespace, one not yet in its loop makes none, and when this raises every
        # namespace made is claimed (journaled), so the rollback sees it
        stop.set()
        with busy:
            busy.wait_for(lambda: running[0] == 0)
        raise
    return results


SO_NETNS_COOKIE = 71


def cookie(sock: socket.socket | None = None) -> int | None:
    """The cookie of the network namespace of `sock` (or of the calling thread): a number the
    kernel gives each namespace once per boot and never reuses (Linux 5.14+; None before).
    Reading it takes no lock that the kernel's freeing of other namespaces holds."""
    try:
        if sock is not None:
            return struct.unpack("=Q", sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))[0]
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            return struct.unpack("=Q", s.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))[0]
    except OSError:
        return None


def _tag_lo(tag: str, up: bool = False, _msgs: dict = {}) -> int | None:
    """Set the alias of `lo` in the calling thread's (new) namespace (and set it up); its cookie.
    The request is the same for every namespace of a lab: built once, sent on a bare socket."""
    from . import netlink   # netlink imports this module
    msg = _msgs.get((tag, up))
    if msg is None:
        flags = netlink.IFF_UP if up else 0
        req = netlink.Request(netlink.RTM_NEWLINK, 0,
                              netlink.ifinfo(1, flags, flags) + netlink.attr_str(netlink.IFLA_IFALIAS, tag), "")
        msg = _msgs[(tag, up)] = netlink.frame(req, 1)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as s:
        s.send(msg)
        ack = s.recv(65536)
        # nlmsghdr (16 bytes), then the ack's error code: 0, or minus an errno
        err = struct.unpack_from("=i", ack, 16)[0] if len(ack) >= 20 else -errno.EPROTO
        if err:
            raise OSError(-err, f"tag lo with {tag}: {os.strerror(-err)}")
        return cookie(s)


def identify(names: list[str], alias_of=None) -> dict[str, tuple[int, int | None, str | None] | OSError]:
    """(inode, cookie, alias of `lo`) of each named, mounted namespace, or the error met reading it.
    The alias (a lab's tag) only of the names in `alias_of` (all when None): reading it is a
    netlink request, which waits while the kernel frees other namespaces (it holds the rtnl lock
    for each batch of their devices: seconds after a large lab's destroy); the inode and the
    cookie are read without it. One worker thread moves from namespace to namespace (the calling
    thread's namespace never changes): teardown checks every namespace of a lab this way, and
    `cleanup` every namespace of the host."""
    from . import netlink
    out: dict[str, tuple[int, int | None, str | None] | OSError] = {}

    def worker() -> None:
        for name in names:
            try:
                fd = os.open(entry(name), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
                try:
                    ino = os.fstat(fd).st_ino
                    setns(fd)
                finally:
                    os.close(fd)
                alias = netlink.lo_alias() if alias_of is None or name in alias_of else None
                out[name] = (ino, cookie(), alias)
            except Exception as e:   # every name gets an answer
                out[name] = e if isinstance(e, OSError) else OSError(str(e))

    t = threading.Thread(target=worker, name="netns-identify")
    t.start()
    t.join()
    return out


def is_namespace(name: str) -> bool:
    """Whether /run/netns/NAME has a namespace mounted on it (not a bare placeholder file)."""
    try:
        return os.stat(path(name)).st_dev != os.stat(NETNS_RUN_DIR).st_dev
    except OSError:
        return False


def delete(name: str) -> bool:
    """Unmount and remove a named namespace; False if it was not there."""
    p = entry(name)   # a name is one entry of /run/netns, never a path out of it
    if not os.path.lexists(p):
        return False
    _libc.umount2(p.encode(), MNT_DETACH | UMOUNT_NOFOLLOW)  # may already be unmounted; never through a link
    with contextlib.suppress(FileNotFoundError):
        os.unlink(p)
    return True


def inode(name: str) -> int | None:
    try:
        return os.stat(path(name)).st_ino
    except OSError:
        return None


def open_fd(name: str) -> int:
    return os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)


def setns(fd: int) -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), "setns(CLONE_NEWNET)")


@contextlib.contextmanager
def entered(name_or_fd: str | int):
    """Run the block with the calling thread inside the namespace.

    Only for short, synchronous work (opening a socket, writing a sysctl).
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    fd = open_fd(name_or_fd) if isinstance(name_or_fd, str) else name_or_fd
    try:
        setns(fd)
        try:
            yield
        finally:
            setns(own)
    finally:
        os.close(own)
        if isinstance(name_or_fd, str):
            os.close(fd)


class ProcSys:
    """Writes the sysctls of many namespaces, each through a procfs mounted for it alone.

    Under the host's /proc, every namespace that ever opened /proc/sys/net/... leaves a
    dentry named "net" under /proc/sys, and the kernel walks all of them (comparing each
    against the caller's namespace, under a lock) on every lookup: with 5000 host namespaces
    one open took ~7 ms, and a linear,5000 deploy spent 35 s writing one sysctl per node.
    Here one worker thread gets a mount namespace of its own (a slave of the host's: the
    host sees none of its mounts), and for each namespace mounts a new procfs on its /proc,
    writes, and unmounts it: its dentries go with it. Where that cannot be done, each
    sysctl is written through the host's /proc, as before.
    """

    def __init__(self):
        import queue
        self._q: queue.Queue = queue.Queue()
        self._started = threading.Event()
        self._private = False
        self._t = threading.Thread(target=self._run, name="procsys", daemon=True)
        self._t.start()
        self._started.wait()

    def _run(self) -> None:
        try:
            _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
            _check(_libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "mount --make-rslave /")
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            self._private = True
        except OSError:
            own = None   # the thread is given up; write() falls back to the host's /proc
        self._started.set()
        if own is None:
            return
        try:
            while True:
                item = self._q.get()
                if item is None:
                    return
                ns, writes, reply, done = item
                try:
                    reply.append(self._write_in(ns, writes, own))
                except BaseException as e:   # handed to the caller
                    reply.append(e)
                done.set()
        finally:
            os.close(own)

    @staticmethod
    def _write_in(ns: str, writes, own: int) -> list:
        fd = open_fd(ns)
        try:
            setns(fd)
            try:
                _check(_libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
                       "mount proc")
                try:
                    return [_write_one(key, value) for key, value in writes]
                finally:
                    _libc.umount2(b"/proc", MNT_DETACH)
            finally:
                setns(own)
        finally:
            os.close(fd)

    def write(self, ns: str, writes: list[tuple[str, str]]) -> list[OSError | None]:
        """Write (key, value) pairs in namespace `ns`; the error of each, or None."""
        if not self._private:
            with entered(ns):
                return [_write_one(key, value) for key, value in writes]
        reply: list = []
        done = threading.Event()
        self._q.put((ns, writes, reply, done))
        done.wait()
        if isinstance(reply[0], BaseException):
            raise reply[0]
        return reply[0]

    def close(self) -> None:
        if self._private:
            self._q.put(None)
        self._t.join()


def _write_one(key: str, value: str) -> OSError | None:
    try:
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
        return None
    except OSError as e:
        return e


def pids_by_netns(inodes: set[int]) -> dict[int, list[int]]:
    """Processes whose network namespace is one of `inodes` (like `ip netns pids`),
    found by namespace identity, never by name."""
    found: dict[int, list[int]] = {}
    if not inodes:
        return found
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == me:
            continue
        try:
            ino = os.stat(f"/proc/{entry}/ns/net").st_ino
        except OSError:
            continue
        if ino in inodes:
            found.setdefault(ino, []).append(pid)
    return found
