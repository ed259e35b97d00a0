"""Lab and node names, and every name the emulator derives from them.

A name is letters, digits, '-' and '_', starting with a letter or digit: never '.', '/' or
empty, so a name is never a path component other than itself. Every derived name joins the
lab and the node with SEP ('.'), which no name can contain, so the derived names of two labs
never coincide (lab `a-b` node `c` is emu-a-b.c, lab `a` node `b-c` is emu-a.b-c):

    emu-LAB           the lab's fabric namespace (its switches), and the DPDK file prefix of its OVS-DPDK
    emu-LAB.NODE      a node's namespace, the DPDK file prefix of a dpdk-app node, and the
                      VPP api-segment prefix of a vpp node

Names are checked wherever they enter: the topology schema (schema.py), the public API
(lab.py), and state.lab_dir(), through which every path of a lab is made.
"""
from __future__ import annotations

import re

from .errors import UsageError

NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]*$"
LAB_MAX, NODE_MAX = 32, 48
RULE = "names use letters, digits, '-' and '_', and start with a letter or digit"
PREFIX = "emu"
SEP = "."   # between the lab and the node in derived names: no name contains it

_NAME = re.compile(NAME_PATTERN[1:-1])


def problem(name, what: str = "lab") -> str | None:
    """Why `name` is not a valid lab (or node) name, or None when it is."""
    longest = LAB_MAX if what == "lab" else NODE_MAX
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return f"invalid {what} name {name!r}: {RULE} (at most {longest} characters)"
    if len(name) > longest:
        return f"invalid {what} name {name!r}: longer than {longest} characters"
    return None


def check_lab(name) -> str:
    p = problem(name, "lab")
    if p:
        raise UsageError(p)
    return name


def check_node(name) -> str:
    p = problem(name, "node")
    if p:
        raise UsageError(p)
    return name


def fabric_netns(lab: str) -> str:
    return f"{PREFIX}-{lab}"


def node_netns(lab: str, node: str) -> str:
    return f"{PREFIX}-{lab}{SEP}{node}"


def dpdk_prefix(lab: str, node: str) -> str:
    """--file-prefix of a dpdk-app node's testpmd (its /var/run/dpdk/PREFIX runtime directory)."""
    return node_netns(lab, node)


def ovs_prefix(lab: str) -> str:
    """--file-prefix of the lab's OVS-DPDK (one ovs-vswitchd per lab)."""
    return fabric_netns(lab)


def vpp_prefix(lab: str, node: str) -> str:
    """api-segment prefix of a vpp node's VPP (its /dev/shm/PREFIX-vpe-api and PREFIX-global_vm)."""
    return node_netns(lab, node)


def derived_by(lab: str, derived: str) -> bool:
    """Whether `derived` is a name this lab makes (emu-LAB or emu-LAB.NODE with a valid NODE)."""
    base = fabric_netns(lab)
    if derived == base:
        return True
    head, sep, node = derived.partition(SEP)
    return head == base and sep == SEP and problem(node, "node") is None
