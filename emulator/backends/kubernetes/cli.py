"""`emulator export kubernetes TOPOLOGY -o DIR`: a kustomize directory for `kubectl apply -k DIR`."""
from __future__ import annotations

import argparse
import os
import sys

import yaml

from ...errors import EmulatorError, UsageError

KUSTOMIZATION = "kustomization.yaml"


class ExportInvalid(EmulatorError):
    """An exported object its Kubernetes schema rejects: a bug of the export, said as such."""


def build(topology: str, name: str | None = None, spread: int | None = None, image: str | None = None,
          check: bool = True) -> tuple[dict, list[str]]:
    """(file name -> objects, report lines) for a topology file; nothing is written."""
    from ... import lab as api
    from ...core import loader
    from . import manifests, placement, schemas
    src = loader.load_named(topology, name)
    c = api.compile(src, check_host=False)
    raw = src.data
    ex = manifests.Exporter(c, raw, src, image=image or manifests.NODE_IMAGE)
    files = ex.build()
    report = placement.apply(files, ex, raw.get("placement"))
    if spread:
        report += placement.spread(files, ex, spread)
    files = {"namespace.yaml": [{"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": ex.ns, "labels": {"emulator.io/lab": manifests.k8s_name(
                                     c.lab.name)}}}], **files}
    if check:
        problems = schemas.validate_all(files)
        if problems:
            raise ExportInvalid("an exported object fails the Kubernetes "
                                f"{schemas.K8S_VERSION} schema (a bug of the export):\n  " + "\n  ".join(problems))
    kust = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "namespace": ex.ns,
            "sortOptions": {"order": "fifo"},   # round robin among endpoints follows their order
            "resources": list(files)}
    files[KUSTOMIZATION] = [kust]
    return files, report


def write(files: dict, out_dir: str, force: bool = False) -> None:
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not force:
        raise UsageError(f"{out_dir} exists and is not empty; use --force to overwrite the files the export "
                         f"writes ({', '.join(files)})")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"{out_dir} is not a directory")
    os.makedirs(out_dir, exist_ok=True)
    for fname, objs in files.items():
        with open(os.path.join(out_dir, fname), "w", encoding="utf-8") as f:
            head = "# written by `emulator export kubernetes`: kubectl apply -k DIR (needs NSM and meshnet)\n"
            f.write(head + yaml.safe_dump_all(objs, sort_keys=False, width=110))


def cmd_export_kubernetes(args) -> int:
    if args.spread is not None and args.spread < 1:
        raise UsageError("--spread takes a number of cluster nodes, 1 or more")
    files, report = build(args.topology, name=args.name, spread=args.spread, image=args.image,
                          check=not args.no_validate)
    write(files, args.output, force=args.force)
    for line in report:
        print(line)
    n = sum(len(o) for f, o in files.items() if f != KUSTOMIZATION)
    print(f"wrote {n} objects in {len(files) - 1} files and {KUSTOMIZATION} to {args.output}; "
          f"on a cluster with NSM and meshnet: kubectl apply -k {args.output}", file=sys.stderr)
    return 0


def add_parsers(sub, fmt=argparse.RawDescriptionHelpFormatter) -> None:
    exp = sub.choices.get("export")
    if exp is None:   # the first backend with an export format makes the verb
        exp = sub.add_parser("export", help="write a lab in another system's format", formatter_class=fmt)
        exp.add_subparsers(dest="format", metavar="FORMAT")
    formats = next(a for a in exp._actions if isinstance(a, argparse._SubParsersAction))
    s = formats.add_parser("kubernetes", help="a kustomize directory: meshnet pods, NSM services",
                           formatter_class=fmt,
                           epilog="examples:\n  emulator export kubernetes topologies/nsm-2s1c.yaml -o k8s/\n"
                                  "  emulator export kubernetes topologies/lan.yaml -o k8s/ --spread 2\n"
                                  "then, on a cluster with NSM and meshnet: kubectl apply -k k8s/")
    s.add_argument("topology", metavar="TOPOLOGY", help="topology YAML file")
    s.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write")
    s.add_argument("--name", metavar="LAB", help="lab name instead of the file's")
    s.add_argument("--spread", type=int, metavar="N", help="partition the pods over N cluster nodes")
    s.add_argument("--image", metavar="IMAGE", help="image of plain nodes' pods (default nicolaka/netshoot)")
    s.add_argument("--force", action="store_true", help="overwrite files in a non-empty DIR")
    s.add_argument("--no-validate", action="store_true", help="skip the Kubernetes schema check")
    s.set_defaults(fn=cmd_export_kubernetes)
