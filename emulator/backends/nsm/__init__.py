"""Network services in the form Network Service Mesh (NSM) uses, compiled into the lab.

A topology may declare `services:` (NSM NetworkService resources: payload and ordered matches),
`forwarders:` (the data plane that builds cross-connects), endpoints (`kind: nse`) and clients
(`kind: nsc`, with requests such as `kernel://secure-intranet/nsm0?app=x`). The "expand services"
stage (`expand.expand`, called by `lab.compile` right after schema validation) resolves every
request with NSM's endpoint-selection rules (`select.py`) and rewrites the raw topology into
plain links, addresses, routes, sysctls and startup commands that the rest of the pipeline
deploys like anything else. Modules:

    spec.py       what the YAML says: services, matches, requests, endpoints (v1 and v1alpha1 spellings)
    select.py     NSM's matchEndpoint: ordered matches, source/destination selectors, fallthrough, metadata
    forwarders.py the forwarder-type registry (kernel: veth cross-connects; dpdk; vpp)
    vppfwd.py     NSM's VPP forwarder (TAP/memif per side, l2 xconnect) and VPP endpoints (`vpp:`)
    expand.py     the stage: chains (the resolved objects), VNFs, rewritten topology
    addresses.py  its addresses (per-hop /30s, or NSM's IPAM) and routes
    ipam.py       NSM's point-to-point IPAM (`ipam: nsm`)
    explain.py    `emulator explain`: every client's chain and why
    k8s.py        `emulator import-nsm`: NSM Kubernetes manifests (kustomize-built) -> a topology
    step.py       the `nsm_chain` scenario step: per-hop packet counters prove the path
    cli.py        the `explain` and `import-nsm` verbs, and the chains `inspect LAB` lists
    driver.py     the node kinds `nse` and `nsc`
    vnf.py        VNF roles

`register()` adds the kinds, the expand stage, the step, the verbs and the chains `inspect` shows.
"""
from __future__ import annotations

from ... import registry

REQUIRES = ("host", "dpdk")   # endpoints are hosts or DPDK apps


#: 'package.module:function's that register more VNF roles into vnf.py's registry (the eBPF
#: backend's), each called once, on the first role lookup
ROLE_PROVIDERS: list[str] = []


def _uses_services(raw) -> bool:   # expand.uses_services, without importing it
    return bool(raw.get("services") or raw.get("forwarders") or registry.node_kinds(raw) & {"nse", "nsc"})


def register(regs) -> None:
    regs.kinds.register_lazy("nse", f"{__name__}.driver:NseDriver")
    regs.kinds.register_lazy("nsc", f"{__name__}.driver:NscDriver")
    regs.lab_properties["services"] = f"{__name__}.spec:SERVICES"            # expanded by expand.py
    regs.lab_properties["forwarders"] = f"{__name__}.spec:forwarders_schema"
    # network services -> links, addresses, routes; imported by the first compile that has some
    regs.expand_hooks.append(registry.ExpandHook(f"{__name__}.expand:expand", _uses_services))
    regs.steps.register_lazy("nsm_chain", f"{__name__}.step:NsmChain")
    regs.cli_verbs.append(registry.CliVerbs(("explain", "import-nsm"), f"{__name__}.cli:add_parsers"))
    regs.inspect_hooks.append(registry.lazy(f"{__name__}.cli:chains_text"))
