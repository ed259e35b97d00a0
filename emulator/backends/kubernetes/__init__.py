"""Kubernetes: `emulator export kubernetes` writes a lab as a kustomize directory for a cluster with
Network Service Mesh and meshnet-cni (the import side, NSM manifests -> topology, is the nsm
backend's `import-nsm`). It adds no node kinds: a lab moves to a cluster, it is not deployed there.

    manifests.py  compiled lab -> objects: meshnet pods + Topology, NSM NetworkService/endpoints/clients
    placement.py  the `placement:` section (node labels, latency budget -> node class) and --spread N
    schemas.py    every built-in object against the Kubernetes OpenAPI schemas (kubernetes-validate)
    cli.py        the `export kubernetes` verb: build, check, write DIR with its kustomization.yaml
"""
from __future__ import annotations

REQUIRES = ("nsm",)


def register(regs) -> None:
    from ... import registry
    regs.cli_verbs.append(registry.CliVerbs(("export",), f"{__name__}.cli:add_parsers"))
    regs.lab_properties["placement"] = f"{__name__}.placement:SCHEMA"
