"""pyroute2, imported on first use.

Importing pyroute2 costs ~170 ms (its package imports most of itself), and every command loads
every backend, while only a few rare requests (moving a device, VF settings, macvlans) use it.
Modules write `pr2.IPRoute()` and `except pr2.NetlinkError:`: an `except` expression is evaluated
only when an exception reaches it, so nothing is imported until pyroute2 is really needed.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "IPRoute": "pyroute2",
    "NetlinkError": "pyroute2.netlink.exceptions",
    "NLM_F_ACK": "pyroute2.netlink",
    "NLM_F_REQUEST": "pyroute2.netlink",
    "RTM_SETLINK": "pyroute2.netlink.rtnl",
    "ifinfmsg": "pyroute2.netlink.rtnl.ifinfmsg",
}


def __getattr__(name: str):
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)
