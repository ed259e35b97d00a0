"""Changes to a running lab: a link down or up, new impairments.

Links are named by one of their endpoints, `node:interface`, as in the topology.
"""
from __future__ import annotations

from . import capabilities, hostcmd, state
from ..errors import DeployError, EnvironmentProblem, LabError, UsageError
from .kernel import netlink
from ..core.model import Impairment
from ..core.plan import tc_commands


def find_link(st: dict, endpoint: str) -> dict:
    for link in st["links"]:
        if endpoint in (link["a"], link["b"]):
            return link
    known = ", ".join(f"{l['a']}--{l['b']}" for l in st["links"][:20])
    raise UsageError(f"lab '{st['name']}' has no link with endpoint '{endpoint}' (links: {known})")


def _iface(st: dict, key: str) -> dict:
    node, _, ifname = key.partition(":")
    return st["nodes"][node]["interfaces"][ifname]


def set_link_state(lab: str, endpoint: str, up: bool) -> None:
    """Unplug a link (both ends go down) or plug it back in.

    The kernel drops the routes through an interface that goes down; plugging the link back
    in restores the static routes of the nodes at both ends, as the topology declared them.
    """
    st = _running(lab)
    link = find_link(st, endpoint)
    for key in (link["a"], link["b"]):
        i = _iface(st, key)
        b = netlink.Batch()
        (b.link_up if up else b.link_down)(i["index"], f"{key} {'up' if up else 'down'}")
        if up:
            for r in st["nodes"][key.partition(":")[0]].get("routes", []):
                b.route(r["to"], f"route {r['to']}", via=r["via"], oif=r["oif"], metric=r["metric"])
                b.requests[-1].ignore = (17,)  # EEXIST: the route survived
        with netlink.Socket(i["netns"]) as s:
            errors = s.run(b)
        if errors:
            raise DeployError(str(errors[0]))
    link["state"] = "up" if up else "down"
    state.write_state(lab, st)


def set_impairment(lab: str, endpoint: str, imp: Impairment) -> None:
    """Replace the link's shaping on both ends (an empty Impairment removes it)."""
    st = _running(lab)
    link = find_link(st, endpoint)
    if imp.needs_netem:
        ok, why = capabilities.netem()
        if not ok:
            raise EnvironmentProblem(f"delay/jitter/loss need the kernel's netem qdisc (sch_netem): {why}")

    for key in (link["a"], link["b"]):
        i = _iface(st, key)
        script = f"qdisc del dev {i['device']} root\n"
        hostcmd.run(["tc", "-batch", "-"], netns=i["netns"], input=script)  # may have had none
        cmds = tc_commands(i["device"], imp) if imp else []
        if cmds:
            r = hostcmd.run(["tc", "-batch", "-"], netns=i["netns"], input="".join(c + "\n" for c in cmds))
            if not r.ok:
                raise DeployError(f"tc on {key}: {r.stderr.strip()}")
    link["impairment"] = {k: v for k, v in vars(imp).items() if v}
    state.write_state(lab, st)


def _running(lab: str) -> dict:
    st = state.read_state(lab)
    if st is None or st.get("status") != "running":
        raise LabError(f"lab '{lab}' is not running")
    return st
