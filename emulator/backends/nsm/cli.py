"""The network-service verbs of the command line: `explain` and `import-nsm`."""
from __future__ import annotations

import argparse
import os
import sys

from ...errors import UsageError


def cmd_explain(args) -> int:
    from ... import lab as api
    from ...core import loader
    from .explain import explain
    c = api.compile(loader.load_named(args.topology, args.name), check_host=False)
    if args.format == "json":
        import json
        print(json.dumps([ch.as_dict() for ch in c.services], indent=1))
    else:
        print(explain(c.services), end="")
    return 0


def cmd_import(args) -> int:
    from .k8s import import_nsm, print_notes
    text, notes, warnings = import_nsm(args.paths, name=args.name)
    print_notes(notes, warnings)
    if args.output and args.output != "-":
        if os.path.exists(args.output) and not args.force:
            raise UsageError(f"{args.output} exists; use --force to overwrite it")
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}; check it with: python -m emulator explain {args.output}", file=sys.stderr)
        if not args.no_check:
            from ... import lab as api
            api.compile(args.output, check_host=False)
    else:
        sys.stdout.write(text)
    return 0


def chains_text(st: dict) -> str:
    """The network service chains of a running lab (from its state), for `emulator inspect LAB`."""
    out = []
    for ch in st.get("services") or []:
        out.append(f"  {ch['client']}: {ch['service']} ({ch['payload']}): {' -> '.join(ch['nodes'])}")
        out += [f"      {h['client']} {h['client_ip'] or '-'} -> {h['endpoint']} {h['endpoint_ip'] or '-'}"
                + (f"   via {h['via']['client_port']} = {h['via']['endpoint_port']} ({h['mechanism']})"
                   if h.get("via") else "") for h in ch["hops"]]
    return ("network service chains:\n" + "\n".join(out)) if out else ""


def add_parsers(sub, fmt=argparse.RawDescriptionHelpFormatter) -> None:
    s = sub.add_parser("explain", help="for every network service client: the chain it got and why",
                       formatter_class=fmt, epilog="example:\n  emulator explain topologies/nsm-2s1c.yaml")
    s.add_argument("topology", metavar="TOPOLOGY", help="topology YAML file")
    s.add_argument("--name", metavar="LAB", help="lab name instead of the file's name:")
    s.add_argument("-f", "--format", choices=["text", "json"], default="text")
    s.set_defaults(fn=cmd_explain)

    s = sub.add_parser("import-nsm", help="turn NSM Kubernetes manifests into a topology",
                       formatter_class=fmt,
                       epilog="reads NetworkService resources, endpoint workloads (NSM_SERVICE_NAMES, NSM_LABELS,\n"
                              "NSM_CIDR_PREFIX env) and client pods (networkservicemesh.io annotation); a directory\n"
                              "with a kustomization.yaml is built with kustomize (kubectl kustomize).\n"
                              "example:\n  emulator import-nsm k8s/ -o topologies/imported.yaml")
    s.add_argument("paths", nargs="+", metavar="DIR_OR_FILE")
    s.add_argument("-o", "--output", metavar="FILE", help="write the topology here (default: stdout)")
    s.add_argument("--name", help="lab name (default: from the first path)")
    s.add_argument("--force", action="store_true", help="overwrite the output file")
    s.add_argument("--no-check", action="store_true", help="do not compile the result")
    s.set_defaults(fn=cmd_import)
