"""SRv6: segment-routed paths in a lab (issue 13, seed 004).

    spec.py     the YAML: srv6-router locators and SIDs, top-level srv6: policies; build() checks them
    paths.py    on the resolved lab: core link addresses, locator routes, each policy's path hop by hop
    routes.py   seg6/seg6local routes as `ip -batch` per namespace; the kernel probe (unshare --net)
    driver.py   the `srv6-router` kind: sysctls, addresses, routes; check_host (behaviours the kernel lacks)
    cli.py      the expand stage (located errors), the `srv6` verb, what `inspect LAB` shows
    monitor.py  per-link loss monitoring: nft netdev counters at both ends of every link, sampled
    fault.py    loss injection: a tc (cls_bpf, direct action) drop filter on one end of a link
    linkdown.py a link taken down and brought back (addresses and routes saved and replayed), no-route drops
    steps.py    scenario steps: srv6_policy (new segment list at run time), link_fault, link_monitor
"""
from __future__ import annotations

from ... import registry

REQUIRES = ("host",)


def _has_srv6(raw) -> bool:
    """Whether cli.expand has anything to check: srv6: policies, or SRv6 routers (of this backend's
    kind or of the kinds other backends declare in srv6_kinds)."""
    return "srv6" in raw or bool(registry.node_kinds(raw) & ({"srv6-router"} | set(registry.active().srv6_kinds)))


def register(regs) -> None:
    regs.kinds.register_lazy("srv6-router", f"{__name__}.driver:Srv6RouterDriver")
    regs.lab_properties["srv6"] = f"{__name__}.spec:LAB_SCHEMA"
    regs.expand_hooks.append(registry.ExpandHook(f"{__name__}.cli:expand", _has_srv6))
    for name, cls in (("srv6_policy", "Srv6Policy"), ("link_fault", "LinkFault"),
                      ("link_monitor", "LinkMonitor")):      # steps.STEPS, imported on first use
        regs.steps.register_lazy(name, f"{__name__}.steps:{cls}")
    regs.cli_verbs.append(registry.CliVerbs(("srv6",), f"{__name__}.cli:add_parsers"))
    regs.inspect_hooks.append(registry.lazy(f"{__name__}.cli:inspect_text"))
    regs.link_loss_hooks.append(registry.lazy(f"{__name__}.cli:link_loss"))
