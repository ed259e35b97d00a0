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

REQUIRES = ("host",)


def register(regs) -> None:
    from . import cli
    from .driver import Srv6RouterDriver
    regs.kinds.register(Srv6RouterDriver())
    regs.expand_hooks.append(cli.expand)
    for name, cls in (("srv6_policy", "Srv6Policy"), ("link_fault", "LinkFault"),
                      ("link_monitor", "LinkMonitor")):      # steps.STEPS, imported on first use
        regs.steps.register_lazy(name, f"{__name__}.steps:{cls}")
    regs.cli_verbs.append(cli.add_parsers)
    regs.inspect_hooks.append(cli.inspect_text)
    regs.link_loss_hooks.append(cli.link_loss)
