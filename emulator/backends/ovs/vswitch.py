"""The lab's own Open vSwitch: ovsdb-server and ovs-vswitchd in the lab's fabric namespace.

    /run/emulator/LAB/ovs/   conf.db, db.sock, *.pid, *.ctl, *.log, BRIDGE.mgmt (OVS_RUNDIR)

OVS's own tools find it through OVS_RUNDIR, which `ip netns exec` passes on:

    OVS_RUNDIR=/run/emulator/LAB/ovs emulator exec LAB sw -- ovs-vsctl show
    ovs-appctl -t /run/emulator/LAB/ovs/ovs-vswitchd.ctl dpif-netdev/pmd-stats-show

Both daemons run inside the fabric namespace (`emu-LAB`), so `destroy` stops them with every
other process of the lab (found by namespace) and removing the lab directory removes their files:
a crash or SIGKILL leaves nothing `destroy` cannot clean. The DPDK build (Debian's
openvswitch-switch-dpdk) is used when the lab has an `ovs-dpdk` node; bridges use the kernel
datapath when the openvswitch module is loaded (plain `ovs` only) and the userspace `netdev`
datapath otherwise.

All bridges and ports of a lab are configured in one ovs-vsctl transaction; flows go in with one
`ovs-ofctl add-flows` per bridge, read from stdin.

With `ovs: {db: unix:/path/db.sock}` the lab uses a running OVS instead; it touches only the
bridges it creates, which carry `external_ids:emulator-lab=LAB`, and deletes exactly those: a bridge
already there under a lab bridge's name is refused unless it carries that tag (then `--may-exist` takes
it again); on the lab's own OVS every add is `--may-exist`, and deletes are `--if-exists`.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import dataclass, field

from ...deploy import actions as A
from ...deploy import hostcmd, state
from ...errors import DeployError, EnvironmentProblem

VSWITCHD_DPDK = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
VSWITCHD_PLAIN = "/usr/lib/openvswitch-switch/ovs-vswitchd"
SCHEMA_FILES = ("/usr/share/openvswitch/vswitch.ovsschema",)
TAG_KEY = "emulator-lab"

LAB_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "description": "use a running Open vSwitch instead of starting one per lab",
    "properties": {
        "db": {"type": "string", "pattern": "^(unix|tcp|ssl):",
               "description": "its OVSDB, e.g. unix:/var/run/openvswitch/db.sock; the lab only touches the "
                              "bridges it creates (tagged external_ids:emulator-lab=<lab>)"},
    },
}


def run_dir(lab: str) -> str:
    return os.path.join(state.lab_dir(lab), "ovs")


def private_db(lab: str) -> str:
    return "unix:" + os.path.join(run_dir(lab), "db.sock")


def ctl_rundir(db: str, lab: str) -> str:
    """Where BRIDGE.mgmt sockets are (ovs-ofctl's OVS_RUNDIR)."""
    if db.startswith("unix:") and db != private_db(lab):
        return os.path.dirname(db[5:])
    return run_dir(lab)


def kernel_datapath() -> bool:
    return os.path.isdir("/sys/module/openvswitch")


def vswitchd(dpdk: bool) -> str:
    if dpdk:
        if os.access(VSWITCHD_DPDK, os.X_OK):
            return VSWITCHD_DPDK
        raise EnvironmentProblem(f"ovs-dpdk nodes need the DPDK build of ovs-vswitchd ({VSWITCHD_DPDK}): "
                                 f"install the Debian/Ubuntu package openvswitch-switch-dpdk (make system)")
    for p in (VSWITCHD_PLAIN, VSWITCHD_DPDK, shutil.which("ovs-vswitchd") or ""):
        if p and os.access(p, os.X_OK):
            return p
    raise EnvironmentProblem("ovs nodes need ovs-vswitchd: install the package openvswitch-switch (make system)")


def schema_file() -> str:
    for p in SCHEMA_FILES:
        if os.path.exists(p):
            return p
    raise EnvironmentProblem("the OVSDB schema vswitch.ovsschema is missing: install openvswitch-common")


def vsctl(db: str, args: list[str], netns: str | None = None, timeout: float = 60) -> hostcmd.Result:
    return hostcmd.run(["ovs-vsctl", f"--db={db}", f"--timeout={int(timeout)}"] + args, netns=netns,
                       timeout=timeout + 5)


def _tail(path: str, n: int = 1500) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


@dataclass
class StartOvs(A.Action):
    """ovsdb-server + ovs-vswitchd of the lab in its fabric namespace (or: check the external one)."""
    lab: str = ""
    dpdk: bool = False
    external_db: str | None = None
    socket_mem: int = 512
    lcore_mask: str = "0x1"
    pmd_mask: str | None = None
    pmd_maxsleep: int | None = None
    file_prefix: str = ""
    huge_dir: str = ""
    pci: list = field(default_factory=list)   # PCI devices of its dpdk ports: EAL -a each (else --no-pci)

    def __post_init__(self):
        self.phase, self.batch = A.SWITCHES, "ovs-start"

    def describe(self):
        if self.external_db:
            return f"use the running Open vSwitch at {self.external_db}"
        d = run_dir(self.lab)
        s = f"[{self.netns}] ovsdb-server {d}/conf.db; ovs-vswitchd ({'DPDK' if self.dpdk else 'plain'})"
        if self.dpdk:
            s += (f" dpdk-socket-mem={self.socket_mem} dpdk-lcore-mask={self.lcore_mask}"
                  f" pmd-cpu-mask={self.pmd_mask or 'default'}")
            s += "".join(f" -a {a}" for a in self.pci)   # the PCI devices of its dpdk ports
        return s

    def undo_record(self):
        if not self.external_db:  # the daemons, should their namespace be gone, and DPDK's runtime dir
            return {"op": "dpdk-runtime", "prefix": self.file_prefix, "rundir": run_dir(self.lab)}
        return None

    def other_config(self) -> list[str]:
        if not self.dpdk:
            return []
        # only the lab's own PCI devices (-a allows those alone): never another lab's vfio-bound VF
        pci = " ".join(f"-a {a}" for a in self.pci) or "--no-pci"
        extra = f"--file-prefix={self.file_prefix} {pci} --huge-dir={self.huge_dir}"
        # socket-limit: OVS sizes its mempools by halving from 256K mbufs until one fits, so without a
        # limit it takes whatever the pool has free, and the lab's next DPDK app cannot start
        from ..dpdk.testpmd import OVS_HEADROOM_MB
        oc = ["dpdk-init=true", f"dpdk-socket-mem={self.socket_mem}",
              f"dpdk-socket-limit={self.socket_mem + OVS_HEADROOM_MB}", f"dpdk-lcore-mask={self.lcore_mask}",
              f'dpdk-extra="{extra}"']
        if self.pmd_mask:
            oc.append(f"pmd-cpu-mask={self.pmd_mask}")
        if self.pmd_maxsleep is not None:
            oc.append(f"pmd-maxsleep={self.pmd_maxsleep}")
        return ["other_config:" + o for o in oc]

    @classmethod
    def apply_batch(cls, actions, ctx):
        for a in actions:
            a.apply()

    def apply(self):
        if self.external_db:
            r = vsctl(self.external_db, ["get", "Open_vSwitch", ".", "ovs_version"], timeout=5)
            if not r.ok:
                raise EnvironmentProblem(f"cannot reach the Open vSwitch database {self.external_db} "
                                         f"(ovs: db:): {r.stderr.strip()}")
            return
        hostcmd.require("ovsdb-server", "openvswitch-switch")
        hostcmd.require("ovs-vsctl", "openvswitch-switch")
        binary = vswitchd(self.dpdk)
        d = run_dir(self.lab)
        os.makedirs(d, exist_ok=True)
        db = os.path.join(d, "conf.db")
        if not os.path.exists(db):
            r = hostcmd.run(["ovsdb-tool", "create", db, schema_file()])
            if not r.ok:
                raise DeployError(f"ovsdb-tool create {db}: {r.stderr.strip()}")
        env = {"OVS_RUNDIR": d, "OVS_DBDIR": d, "OVS_LOGDIR": d}
        r = hostcmd.run(["ovsdb-server", db, f"--remote=punix:{d}/db.sock", f"--pidfile={d}/ovsdb-server.pid",
                         f"--unixctl={d}/ovsdb-server.ctl", f"--log-file={d}/ovsdb-server.log", "--detach",
                         "--no-chdir", "-vconsole:off"], netns=self.netns, env=env, timeout=30)
        if not r.ok:
            raise DeployError(f"ovsdb-server did not start: {(r.stderr or r.stdout).strip()[-500:]}")
        r = vsctl(private_db(self.lab), ["--no-wait", "init", "--", "set", "Open_vSwitch", ".",
                                         f"external_ids:{TAG_KEY}={self.lab}"] + self.other_config())
        if not r.ok:
            raise DeployError(f"ovs-vsctl init: {r.stderr.strip()}")
        log = f"{d}/ovs-vswitchd.log"
        r = hostcmd.run([binary, private_db(self.lab), f"--pidfile={d}/ovs-vswitchd.pid",
                         f"--unixctl={d}/ovs-vswitchd.ctl", f"--log-file={log}", "--detach", "--no-chdir",
                         "-vconsole:off"], netns=self.netns, env=env, timeout=90)
        if not r.ok:
            raise DeployError(f"ovs-vswitchd did not start (exit {r.returncode}); its log {log} ends:\n"
                              f"{_tail(log)}")
        if self.dpdk and "DPDK Enabled - initialized" not in _tail(log, 100000):
            raise DeployError(f"ovs-vswitchd started but DPDK did not initialise; {log} ends:\n{_tail(log)}")


@dataclass
class Port:
    name: str
    ofport: int
    type: str = ""                          # "" (a kernel device), dpdkvhostuserclient, internal
    options: dict = field(default_factory=dict)


@dataclass
class ConfigureBridge(A.Action):
    """One bridge and its ports; every bridge of a lab goes into one ovs-vsctl transaction."""
    lab: str = ""
    db: str = ""
    bridge: str = ""
    node: str = ""
    datapath: str = "netdev"
    ports: list = field(default_factory=list)
    flows: list = field(default_factory=list)
    external: bool = False
    internal: dict = field(default_factory=dict)   # internal port -> its addresses

    def __post_init__(self):
        self.phase, self.batch = A.SWITCHPORTS, "ovs-config"

    def vsctl_args(self, may_exist: bool | None = None) -> list[str]:
        """may_exist: the bridge may be there already and is ours (default: on the lab's own OVS)."""
        b = self.bridge
        me = ["--may-exist"] if (not self.external if may_exist is None else may_exist) else []
        args = ["--", *me, "add-br", b, "--", "set", "Bridge", b, f"datapath_type={self.datapath}",
                f"external_ids:{TAG_KEY}={self.lab}", f"external_ids:emulator-node={self.node}",
                f"fail_mode={'secure' if self.flows else 'standalone'}"]
        for p in self.ports:
            args += ["--", *me, "add-port", b, p.name, "--", "set", "Interface", p.name,
                     f"ofport_request={p.ofport}"]
            if p.type:
                args.append(f"type={p.type}")
            args += [f"options:{k}={v}" for k, v in p.options.items()]
        return args

    def describe(self):
        s = f"[{self.netns}] ovs-vsctl " + shlex.join(self.vsctl_args())
        for n, ips in self.internal.items():
            s += f"\n[{self.netns}] ip link set {n} up" + "".join(f"; ip addr add {c} dev {n}" for c in ips)
        if self.flows:
            s += f"\n[{self.netns}] ovs-ofctl add-flows {self.bridge} - <<< " + "; ".join(self.flows)
        return s

    def undo_record(self):
        if self.external:
            return {"op": "ovs-bridge", "db": self.db, "bridge": self.bridge, "lab": self.lab}
        return None

    @classmethod
    def apply_batch(cls, actions, ctx):
        first = actions[0]
        ours = set()
        if first.external:
            ours = _check_not_theirs(actions)
        args: list[str] = []
        for a in actions:
            args += a.vsctl_args(may_exist=(a.bridge in ours) if a.external else True)
        r = vsctl(first.db, args, netns=first.netns, timeout=60)
        if not r.ok:
            raise DeployError(f"configuring Open vSwitch failed: {r.stderr.strip()}")
        for a in actions:
            bad = vsctl(a.db, ["--columns=name,error", "--format=csv", "--no-headings", "find", "Interface",
                               "error!=[]"], netns=a.netns)
            errs = [l for l in bad.stdout.splitlines() if l.split(",")[0] in {p.name for p in a.ports}]
            if errs:
                raise DeployError(f"Open vSwitch refused ports of {a.bridge}: " + "; ".join(errs))
            if a.internal and not a.external:   # OVS made them as devices in the fabric namespace
                script = "".join(f"link set {n} up\n" + "".join(f"address add {c} dev {n}\n" for c in ips)
                                 for n, ips in a.internal.items())
                r = hostcmd.run(["ip", "-batch", "-"], netns=a.netns, input=script)
                if not r.ok:
                    raise DeployError(f"internal ports of OVS bridge {a.node}: {r.stderr.strip()}")
            if a.flows:
                rundir = ctl_rundir(a.db, a.lab)
                r = hostcmd.run(["ovs-ofctl", "add-flows", f"unix:{rundir}/{a.bridge}.mgmt", "-"],
                                netns=a.netns, input="".join(f + "\n" for f in a.flows))
                if not r.ok:
                    raise DeployError(f"flows of OVS bridge {a.node}: {r.stderr.strip()}")


def bridge_tags(db: str, netns: str | None = None) -> dict[str, str]:
    """Every bridge on `db` and the lab its tag names ("" when no lab made it)."""
    r = vsctl(db, ["--format=json", "--columns=name,external_ids", "list", "Bridge"], netns=netns, timeout=10)
    if not r.ok:
        raise DeployError(f"listing the bridges of Open vSwitch at {db}: {r.stderr.strip()}")
    out = {}
    for name, ids in json.loads(r.stdout)["data"]:
        pairs = ids[1] if isinstance(ids, list) and ids and ids[0] == "map" else []
        out[name] = dict(pairs).get(TAG_KEY, "")
    return out


def _check_not_theirs(actions) -> set[str]:
    """On a user's OVS, a bridge that is already there is this lab's only if it carries the lab's tag
    (left by an interrupted deploy): those are returned, to be added with --may-exist. Any other
    bridge of the same name is refused, never adopted and tagged. Bridges not there now are added
    without --may-exist, so one created in the meantime makes the transaction fail, not ours."""
    first = actions[0]
    tags = bridge_tags(first.db, first.netns)
    theirs = [(a.bridge, tags[a.bridge]) for a in actions if a.bridge in tags and tags[a.bridge] != a.lab]
    if theirs:
        which = "; ".join(f"{b} ({f'tagged {TAG_KEY}={t}' if t else 'not made by the emulator'})"
                          for b, t in theirs)
        raise DeployError(f"Open vSwitch at {first.db} already has a bridge named like this lab's: {which}. "
                          f"A lab never takes over a bridge it did not make: rename the node or remove the bridge")
    return {a.bridge for a in actions if a.bridge in tags}


def _undo_bridge(rec: dict) -> None:
    """Delete a bridge on a user's OVS, only if it still carries this lab's tag."""
    r = vsctl(rec["db"], ["--if-exists", "get", "Bridge", rec["bridge"], f"external_ids:{TAG_KEY}"], timeout=5)
    if r.ok and r.stdout.strip().strip('"') == rec["lab"]:
        vsctl(rec["db"], ["--if-exists", "del-br", rec["bridge"]], timeout=10)


UNDO = {"ovs-bridge": _undo_bridge}   # journal op -> undo handler (registered by the ovs backend)
