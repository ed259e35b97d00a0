"""Moving an existing device (a host NIC) into a namespace and back, through pyroute2.

These are rare requests (one per single-ended endpoint), so they use pyroute2 rather than the
batched client in netlink.py. `move_device` records what moving destroys: the kernel brings a
device down and drops its addresses and routes when it changes namespace, and the device may be
renamed on the way in. `restore_device` moves it back under its original name and puts back its
up/down state, MTU, MAC, addresses and routes. It is idempotent: a device that is already back only
gets its state checked and repaired; a device that is gone (a veth whose namespace was deleted)
is not an error.

A namespace is a name under /run/netns, or None for the host's: the one this process runs in.
"""
from __future__ import annotations

import contextlib
import errno
import os
import socket
from dataclasses import asdict, dataclass, field

from . import pr2

from . import netns

HOST_NS = "/proc/self/ns/net"   # the main thread's: where the emulator runs
RTPROT_KERNEL = 2


@dataclass
class Moved:
    """What is needed to move a device back: plain data, so it can go into a lab's journal."""
    name: str                       # original name
    ns: str | None                  # original namespace (None: the host's)
    up: bool
    mtu: int
    mac: str
    addresses: list[str] = field(default_factory=list)   # "CIDR", link-local IPv6 left out
    routes: list[dict] = field(default_factory=list)     # static routes through the device
    to_ns: str = ""
    now_name: str = ""
    now_index: int = 0
    index: int = 0                  # original ifindex: asked for again when it is moved back

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Moved":
        return cls(**d)


class DeviceError(Exception):
    """A device could not be found, moved or restored; the message says which and why."""


def _ns_fd(ns: str | None) -> int:
    return os.open(HOST_NS if ns is None else netns.path(ns), os.O_RDONLY | os.O_CLOEXEC)


@contextlib.contextmanager
def _ipr(ns: str | None):
    """An IPRoute whose socket lives in `ns` (opened by setns in this thread: no child process)."""
    fd = _ns_fd(ns)
    try:
        with netns.entered(fd):
            ipr = pr2.IPRoute()
    finally:
        os.close(fd)
    try:
        yield ipr
    finally:
        ipr.close()


def _where(ns: str | None) -> str:
    return "the host namespace" if ns is None else f"namespace {ns}"


def _link(ipr, name_or_index: str | int):
    try:
        if isinstance(name_or_index, int):
            return ipr.get_links(name_or_index)[0]
        found = ipr.link_lookup(ifname=name_or_index)
        return ipr.get_links(found[0])[0] if found else None
    except pr2.NetlinkError as e:
        if e.code == errno.ENODEV:
            return None
        raise


def _addresses(ipr, index: int) -> list[str]:
    out = []
    for a in ipr.get_addr(index=index):
        ip = a.get_attr("IFA_LOCAL") or a.get_attr("IFA_ADDRESS")
        if a["family"] == socket.AF_INET6 and ip.lower().startswith("fe80:"):
            continue   # the kernel makes it again
        out.append(f"{ip}/{a['prefixlen']}")
    return out


def _routes(ipr, index: int) -> list[dict]:
    out = []
    for fam in (socket.AF_INET, socket.AF_INET6):
        for r in ipr.get_routes(family=fam, oif=index):
            if r["proto"] == RTPROT_KERNEL or r.get_attr("RTA_OIF") != index:
                continue   # connected routes come back with the addresses
            dst = r.get_attr("RTA_DST")
            if fam == socket.AF_INET6 and dst and dst.lower().startswith(("fe80:", "ff00:")):
                continue
            table = r.get_attr("RTA_TABLE") or r["table"]
            if table not in (254,):   # main only: local/other tables are the kernel's or policy's
                continue
            out.append({"family": fam, "dst": f"{dst or ('0.0.0.0' if fam == socket.AF_INET else '::')}"
                        f"/{r['dst_len']}", "gateway": r.get_attr("RTA_GATEWAY"),
                        "priority": r.get_attr("RTA_PRIORITY"), "proto": r["proto"], "scope": r["scope"]})
    return out


def move_device(name_or_index: str | int, from_ns: str | None, to_ns: str, new_name: str | None = None,
                new_index: int = 0) -> Moved:
    """Move a device from `from_ns` into `to_ns` (renamed to `new_name` in one request, so its
    name may be taken in `from_ns` by then); return the record `restore_device` needs."""
    rec = snapshot(name_or_index, from_ns, to_ns, new_name, new_index)
    move(rec)
    return rec


def snapshot(name_or_index: str | int, from_ns: str | None, to_ns: str, new_name: str | None = None,
             new_index: int = 0) -> Moved:
    """What `move` will do and `restore_device` needs, read without changing anything: a caller
    journals it *before* the move, so the device is put back even if the mover dies right after."""
    with _ipr(from_ns) as ipr:
        link = _link(ipr, name_or_index)
        if link is None:
            raise DeviceError(f"device {name_or_index!r} not found in {_where(from_ns)}")
        index = link["index"]
        name = link.get_attr("IFLA_IFNAME")
        if name == "lo":
            raise DeviceError(f"'lo' cannot be moved out of {_where(from_ns)}")
        return Moved(name=name, ns=from_ns, up=bool(link["flags"] & 1), mtu=link.get_attr("IFLA_MTU"),
                     mac=link.get_attr("IFLA_ADDRESS") or "", addresses=_addresses(ipr, index),
                     routes=_routes(ipr, index), to_ns=to_ns, now_name=new_name or name,
                     now_index=new_index, index=index)


def move(rec: Moved) -> None:
    """Move the device `rec` describes (found by its original index, checked by name and MAC) into
    rec.to_ns as rec.now_name, with ifindex rec.now_index when that is given."""
    with _ipr(rec.ns) as ipr:
        link = _link(ipr, rec.index)
        if link is None or link.get_attr("IFLA_IFNAME") != rec.name or \
                (rec.mac and link.get_attr("IFLA_ADDRESS") != rec.mac):
            raise DeviceError(f"device {rec.name} is no longer in {_where(rec.ns)} as it was a moment ago "
                              f"(moved or renamed by someone else?)")
        fd = _ns_fd(rec.to_ns)
        kw = {"new_ifindex": rec.now_index} if rec.now_index else {}
        try:
            ipr.link("set", index=rec.index, net_ns_fd=fd, ifname=rec.now_name, **kw)
        except pr2.NetlinkError as e:
            raise DeviceError(f"moving {rec.name} from {_where(rec.ns)} into {rec.to_ns} as {rec.now_name}: "
                              f"{os.strerror(e.code)}") from None
        finally:
            os.close(fd)
    if not rec.now_index:
        with _ipr(rec.to_ns) as ipr:
            link = _link(ipr, rec.now_name)
            rec.now_index = link["index"] if link is not None else 0


def set_link(ns: str | None, index: int, mtu: int | None = None, mac: str | None = None) -> None:
    """Set the MTU and/or MAC of device INDEX in NS."""
    kw = {k: v for k, v in (("mtu", mtu), ("address", mac)) if v}
    if not kw:
        return
    with _ipr(ns) as ipr:
        try:
            ipr.link("set", index=index, **kw)
        except pr2.NetlinkError as e:
            raise DeviceError(f"setting {', '.join(f'{k} {v}' for k, v in kw.items())} on device #{index} in "
                              f"{_where(ns)}: {os.strerror(e.code)}") from None


def _find_moved(ipr, rec: Moved):
    """The moved device in its namespace: its index, still under its name or still with its MAC."""
    link = _link(ipr, rec.now_index) if rec.now_index else None
    if link is not None and (link.get_attr("IFLA_IFNAME") == rec.now_name
                             or (rec.mac and link.get_attr("IFLA_ADDRESS") == rec.mac)):
        return link
    link = _link(ipr, rec.now_name)
    if link is not None and (not rec.mac or link.get_attr("IFLA_ADDRESS") == rec.mac):
        return link
    return None


def restore_device(rec: Moved | dict) -> str:
    """Move the device back as it was. Returns "restored", "already back" (its state was still
    checked and put right) or "gone" (nowhere to be found: nothing to do)."""
    if isinstance(rec, dict):
        rec = Moved.from_dict(rec)
    status = "gone"
    if rec.to_ns and netns.exists(rec.to_ns):
        with _ipr(rec.to_ns) as ipr:
            link = _find_moved(ipr, rec)
            if link is not None:
                fd = _ns_fd(rec.ns)
                try:
                    ipr.link("set", index=link["index"], state="down")
                    try:   # under its original ifindex when that is free
                        ipr.link("set", index=link["index"], net_ns_fd=fd, ifname=rec.name,
                                 **({"new_ifindex": rec.index} if rec.index else {}))
                    except pr2.NetlinkError as e:
                        if not rec.index or e.code not in (errno.EBUSY, errno.EEXIST):
                            raise
                        ipr.link("set", index=link["index"], net_ns_fd=fd, ifname=rec.name)
                except pr2.NetlinkError as e:
                    raise DeviceError(f"moving {rec.now_name} from {rec.to_ns} back to {_where(rec.ns)} as "
                                      f"{rec.name}: {os.strerror(e.code)}") from None
                finally:
                    os.close(fd)
                status = "restored"
    with _ipr(rec.ns) as ipr:
        link = _link(ipr, rec.name)
        if link is not None and status != "restored" and rec.mac and link.get_attr("IFLA_ADDRESS") != rec.mac:
            link = None            # another device has the name now: not ours to change
        if link is None and status != "restored":
            link = _returned(ipr, rec)
        if link is None:
            if status == "restored":
                raise DeviceError(f"{rec.name} was moved back to {_where(rec.ns)} but is not found there")
            return "gone"
        if status == "gone":
            status = "already back"
        _put_state(ipr, link, rec)
    return status


def _returned(ipr, rec: Moved):
    """A device the kernel gave back when its namespace went away: it keeps the name it had in
    there (or gets devN when that is taken). Renamed to its original name; matched by name and MAC."""
    if not rec.mac:
        return None
    for link in ipr.get_links():
        name = link.get_attr("IFLA_IFNAME")
        if link.get_attr("IFLA_ADDRESS") == rec.mac and (
                name == rec.now_name or (name.startswith("dev") and name[3:].isdigit())):
            try:
                ipr.link("set", index=link["index"], state="down")
                ipr.link("set", index=link["index"], ifname=rec.name)
            except pr2.NetlinkError as e:
                raise DeviceError(f"renaming {name} back to {rec.name} in {_where(rec.ns)}: "
                                  f"{os.strerror(e.code)}") from None
            return ipr.get_links(link["index"])[0]
    return None


def _put_state(ipr, link, rec: Moved) -> None:
    index = link["index"]
    try:
        if link.get_attr("IFLA_MTU") != rec.mtu:
            ipr.link("set", index=index, mtu=rec.mtu)
        if rec.mac and link.get_attr("IFLA_ADDRESS") != rec.mac:
            ipr.link("set", index=index, address=rec.mac)
        if rec.up:
            ipr.link("set", index=index, state="up")
        have = set(_addresses(ipr, index))
        for cidr in rec.addresses:
            if cidr not in have:
                ip, plen = cidr.rsplit("/", 1)
                ipr.addr("add", index=index, address=ip, prefixlen=int(plen))
        for r in rec.routes:
            kw = {k: v for k, v in r.items() if v is not None}
            try:
                ipr.route("add", oif=index, **kw)
            except pr2.NetlinkError as e:
                if e.code != errno.EEXIST:
                    raise
        if not rec.up:
            ipr.link("set", index=index, state="down")
    except pr2.NetlinkError as e:
        raise DeviceError(f"restoring the state of {rec.name} in {_where(rec.ns)}: {os.strerror(e.code)}") from None
