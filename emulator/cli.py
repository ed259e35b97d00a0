"""Command line: `python -m emulator VERB ...` (verbs follow containerlab where they overlap)."""
from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import time

from . import __version__, backends, names, registry
from .deploy import hostcmd
from .core import loader
from . import lab as api
from .errors import EXIT_FAILED, EXIT_INVALID, EmulatorError, EnvironmentProblem, UsageError, escape_lines, quote
from .core.loader import Source
from .core.schema import topology_schema
from .topo_gen import SHAPES
from .ui_text import TerminalProgress, table
from .units import human_impairment

DESCRIPTION = """\
Declarative network emulator for NFV service chains.

A YAML topology of nodes (hosts, routers, bridges...) and links becomes a lab of
Linux network namespaces, veth pairs and bridges, and goes away again.

typical session:
  emulator validate topologies/fw-chain.yaml     check a file (errors with file:line:column)
  emulator deploy   topologies/fw-chain.yaml     build the lab, print nodes and addresses
  emulator exec     fw-chain client -- ping -c1 10.100.2.2
  emulator inspect  fw-chain                     what runs, with link state and counters
  emulator destroy  fw-chain                     remove it (also after a crash)
  emulator run      scenarios/smoke.yaml         deploy, drive traffic, assert, report, tear down
  emulator ui                                    draw and run labs in the browser

exit codes: 0 ok, 1 failed at run time, 2 invalid input (nothing was changed),
3 the environment cannot do it (not root, missing tool or kernel feature)
"""


def _topology_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("topology", nargs="?" if not required else None, metavar="TOPOLOGY",
                   help="topology YAML file")
    p.add_argument("--topo", metavar="SHAPE", help="a generated topology instead of a file: "
                   + "; ".join(SHAPES.values()) + "; and Mininet's: minimal, single[,K], reversed[,K], "
                   "linear[,K,N], tree[,DEPTH,FANOUT], torus,X,Y[,N] (with k=v arguments as mn takes them)")
    p.add_argument("--custom", metavar="FILE.py", help="a Mininet custom file: --topo NAME[,ARGS...][,k=v] "
                   "builds its topology (its topos dict, or a Topo class it defines), without Mininet")
    p.add_argument("--name", metavar="LAB", help="lab name instead of the file's name: (for --topo, default: "
                   "the shape, e.g. linear200)")


def _source(args) -> Source | str:
    from . import formats
    if args.topo and args.topology:
        raise UsageError("give a topology file or --topo, not both")
    if getattr(args, "custom", None) and not args.topo:
        raise UsageError("--custom FILE.py needs --topo NAME (one of the file's topos, or a Topo class in it)")
    if args.topo:
        src = formats.generated(args.topo, getattr(args, "custom", None), args.name)
    elif not args.topology:
        raise UsageError("which topology? give a YAML file, or --topo linear,N (see --help)")
    else:
        src = formats.load_file(args.topology, args.name)   # the project's YAML, or a containerlab file
    for note in formats.notes(src):   # what another tool's file says that has no equivalent here
        print(f"warning: {escape_lines(note.format())}", file=sys.stderr)
    return src


def cmd_validate(args) -> int:
    c = api.compile(_source(args), check_host=not args.no_host_check)
    lab = c.lab
    print(f"{c.source.file}: valid: lab '{lab.name}', {_n(len(lab.nodes), 'node')}, "
          f"{_links(len(lab.links), len(lab.endpoints))}")
    return 0


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _links(two_ended: int, single: int) -> str:
    """'3 links', or '5 links (2 single-ended)': a single-ended link (host device, VF...) is a link too."""
    return _n(two_ended + single, "link") + (f" ({single} single-ended)" if single else "")


def cmd_graph(args) -> int:
    c = api.compile(_source(args), check_host=False)
    from .core import graph as graph_mod
    fmt = {"text": graph_mod.to_text, "dot": graph_mod.to_dot, "json": graph_mod.to_json}[args.format]
    print(fmt(c.lab, c.graph))
    return 0


def cmd_plan(args) -> int:
    c = api.compile(_source(args), check_host=False)
    from .deploy.actions import PHASE_NAMES
    last = None
    for a in c.actions:
        if a.phase != last:
            print(f"# {a.phase_label() or PHASE_NAMES.get(a.phase, a.phase)}")   # as deploy's progress names it
            last = a.phase
        print(a.describe())
    return 0


def _print_lab(st: dict, max_rows: int = 60, live: dict | None = None) -> None:
    rows = []
    for name, n in st["nodes"].items():
        ifs = []
        for ifname, i in n["interfaces"].items():
            s = f"{ifname}"
            if live is not None:
                l = live.get(f"{name}:{ifname}")
                s += " (" + ("up" if l and l.get("up") else "DOWN") + ")"
            if i["addresses"]:
                s += " " + ", ".join(i["addresses"])
            ifs.append(s)
        rows.append([name, n["kind"], n["netns"], "\n".join(ifs) or "-"])
    print(table(["node", "kind", "namespace", "interfaces"], rows, max_rows=max_rows))


def cmd_deploy(args) -> int:
    src = _source(args)
    if args.dry_run:
        # only for this call: the CLI also runs in-process (tests, the Python API), where a dry run
        # left on would make every later host command "succeed" without running
        saved, hostcmd.dry_run = hostcmd.dry_run, True
        try:
            return cmd_plan(args)
        finally:
            hostcmd.dry_run = saved
    t0 = time.monotonic()
    progress = TerminalProgress(title="deploy")
    if getattr(args, "hugepages", None):
        os.environ["EMULATOR_HUGEPAGES"] = str(args.hugepages)   # read by emulator/backends/dpdk/hugepages.py
    st = None
    try:   # until the report is out, Ctrl-C rolls back as during the deploy (README: "interrupted ... rolls back")
        st = api.deploy(src, progress=progress)   # rolls back by itself when interrupted
        dt = time.monotonic() - t0
        print(f"lab '{st['name']}' deployed: {len(st['nodes'])} nodes, "
              f"{_links(len(st['links']), len(st.get('endpoints', [])))} in {dt:.2f} s",
              file=sys.stderr)
        if args.format == "json":
            print(json.dumps(st, indent=1))
        else:
            _print_lab(st, max_rows=args.max_rows)
            print(f"\nrun a command in a node:  python -m emulator exec {st['name']} NODE -- CMD\n"
                  f"remove the lab:           python -m emulator destroy {st['name']}")
        sys.stdout.flush()
        if getattr(args, "program", False):   # the report is out: from here a Ctrl-C leaves the lab up, as it said
            signal.signal(signal.SIGINT, signal.SIG_IGN)   # (between here and main()'s own SIG_IGN it said "removed")
    except KeyboardInterrupt:
        if st is not None:
            old = signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C must not stop the rollback
            try:
                api.destroy(st["name"])
            finally:
                signal.signal(signal.SIGINT, old)
        raise
    return 0


def cmd_inspect(args) -> int:
    if not args.lab:
        labs = api.labs()
        if args.format == "json":
            print(json.dumps(labs, indent=1))
            return 0
        if not labs:
            print("no lab is deployed")
            return 0
        print(table(["lab", "status", "nodes", "links", "file", "created"],
                    [[s["name"], s.get("status"), len(s.get("nodes", {})),
                      len(s.get("links", [])) + len(s.get("endpoints", [])),
                      s.get("file", ""), s.get("created", "")] for s in labs]))
        return 0
    st = api.get(args.lab)
    unread = None
    try:
        live = api.live_interfaces(st) if st.get("nodes") else {}
    except EnvironmentProblem as e:   # not root: the state file is readable, the namespaces are not
        live, unread = None, e
    if args.format == "json":
        print(json.dumps({**st, "live": live}, indent=1))
        return _unread(unread)
    print(f"lab {st['name']}: {st.get('status')}, {len(st['nodes'])} nodes, "
          f"{_links(len(st['links']), len(st.get('endpoints', [])))} "
          f"(from {st.get('file')}, {st.get('created')})")
    _print_lab(st, max_rows=args.max_rows, live=live)
    if st.get("links"):
        rows = []
        for l in st["links"]:
            la, lb = (live or {}).get(l["a"], {}), (live or {}).get(l["b"], {})
            sa = la.get("stats", {})
            rows.append([l["a"], l["b"], "?" if live is None else "up" if la.get("up") and lb.get("up") else "DOWN",
                         sa.get("tx_packets", "-"), sa.get("rx_packets", "-"),
                         human_impairment(l.get("impairment", {})) or "-"])
        print(table(["endpoint a", "endpoint b", "state", "a tx pkts", "a rx pkts", "impairment"], rows,
                    max_rows=args.max_rows))
    for hook in registry.active().inspect_hooks:   # e.g. NSM's network service chains
        text = hook(st)
        if text:
            print(text)
    return _unread(unread)


def _unread(problem) -> int:
    if problem is None:
        return 0
    print(f"error: {problem}", file=sys.stderr)
    return problem.exit_code


def cmd_exec(args) -> int:
    argv = list(args.cmd)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("no command given: emulator exec LAB NODE -- CMD...")
    full = api.exec_argv(args.lab, args.node, argv)
    missing = _not_runnable(api.node_command(args.lab, args.node, argv)[0])   # vpp: vppctl -> its VPP's
    if missing:   # as a shell says it: 127 not found, 126 not executable (ip netns exec would exit 1)
        print(f"emulator exec: {quote(argv[0])}: {missing[1]}", file=sys.stderr)
        return missing[0]
    sys.stdout.flush()
    os.execvp(full[0], full)  # the command's exit code becomes ours
    return EXIT_FAILED


def _not_runnable(cmd: str) -> tuple[int, str] | None:
    """(126 or 127, why) when `cmd` cannot be executed; a node shares the host's files, so its PATH too."""
    import shutil
    if "/" not in cmd:
        return None if shutil.which(cmd) else (127, "command not found")
    if not os.path.exists(cmd):
        return 127, "No such file or directory"
    if os.path.isdir(cmd):
        return 126, "Is a directory"
    if not os.access(cmd, os.X_OK):
        return 126, "Permission denied"
    return None


def _is_file(target: str) -> bool:
    return os.path.isfile(target) or target.endswith((".yaml", ".yml"))


def _lab_name(target: str) -> str:
    if _is_file(target):
        c = api.compile(target, check_host=False)
        return c.lab.name
    return target


def cmd_destroy(args) -> int:
    if args.topo:
        from . import formats
        name = args.name or formats.generated(args.topo, args.custom).data["name"]
    elif args.name is not None:   # destroy FILE --name LAB: the lab deployed from FILE under that name
        if args.target and not _is_file(args.target):
            raise UsageError(f"give a lab name or --name, not both ('{args.target}' is not a topology file)")
        name = names.check_lab(args.name)
    elif args.target:
        name = _lab_name(args.target)
    else:
        raise UsageError("which lab? emulator destroy LAB | TOPOLOGY.yaml [--name LAB] (see 'emulator inspect')")
    t0 = time.monotonic()
    problems = api.destroy(name, progress=TerminalProgress(title="destroy"))
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    print(f"lab '{name}' destroyed in {time.monotonic() - t0:.2f} s", file=sys.stderr)
    return EXIT_FAILED if problems else 0


def cmd_cleanup(args) -> int:
    done = api.cleanup(all_labs=args.all)
    if not done:
        print("nothing to clean up" + ("" if args.all else " (crashed labs only; --all removes every lab)"))
    for name, problems in done:
        print(f"removed {name}" + (f" ({len(problems)} problems: {problems[0]})" if problems else ""))
    return 0


def cmd_run(args) -> int:
    from .scenario import runner
    from .scenario.params import parse_overrides
    return runner.run(args.scenario, keep=args.keep, results_dir=args.results, junit=args.junit,
                      overrides=parse_overrides(args.set or [], "--set"), lab_name=args.name)


def _help_with_steps(parser: argparse.ArgumentParser) -> str:
    """`run --help` with the step types appended: every command builds the parser, and listing
    the steps imports each one's module (they are registered lazily)."""
    if not getattr(parser, "_steps_listed", False):
        parser.epilog = (parser.epilog or "") + _steps_help()
        parser._steps_listed = True
    return argparse.ArgumentParser.format_help(parser)


def _steps_help() -> str:
    from .scenario import steps
    lines = ["step types (each step: {TYPE: {...}, name:, expect: {METRIC: CONDITION}, reference:}):"]
    for name in steps.names():
        st = steps.get(name)
        lines.append(f"  {name:<11} {st.summary}")
        if st.metrics:
            lines.append(f"  {'':<11} metrics: {', '.join(st.metrics)}")
    lines.append("  parallel    a list of steps run at the same time; each may have start_after: 2s, after: NAME")
    lines.append(f"  {'':<11} (once that sibling finished; after: {{started: NAME}}: once it started) and until:")
    lines.append(f"  {'':<11} NAME (a wait, ping, link_monitor or link_fault ends when that sibling has finished)")
    lines.append("")
    lines.append("conditions: 0 | \"< 5\" | \">= 50M\" | \"1..5\" | \"/regex/\"")
    lines.append("exit codes: 0 all assertions held, 1 one failed, 2 invalid input, 3 environment, 130 interrupted")
    return "\n".join(lines)


def cmd_pingall(args) -> int:
    from . import net
    m = net.pingall(args.lab, timeout=args.timeout)
    print("*** Ping: testing ping reachability")
    for src, row in m["matrix"].items():
        print(f"{src} -> " + " ".join(dst if ok else "X" for dst, ok in row.items()))
    print(f"*** Results: {m['loss_pct']:g}% dropped ({m['reachable']}/{m['pairs']} received)")
    return 0 if m["reachable"] == m["pairs"] else EXIT_FAILED


def cmd_iperf(args) -> int:
    from . import net
    from .units import human_rate
    m = net.iperf(args.lab, args.client, args.server, args.time)
    print(f"*** Iperf: testing TCP bandwidth between {args.client} and {args.server}")
    print(f"*** Results: {human_rate(m['throughput_bps'])} ({args.client} -> {args.server}, {args.time:g} s"
          + (f", {m['retransmits']} retransmits)" if m.get("retransmits") is not None else ")"))
    return 0


def cmd_ui(args) -> int:
    try:
        from webui import server
    except ImportError as e:
        raise EnvironmentProblem(f"the web UI needs its extra packages ({e.name}): "
                                 f"pip install -e '.[ui]'") from None
    server.run(host=args.host, port=args.port, topology=args.topology, scenario_dirs=args.scenario_dir,
               topology_dirs=args.topology_dir)
    return 0


def cmd_schema(args) -> int:
    print(json.dumps(topology_schema(), indent=2))
    return 0


#: the verbs of the core (build_parser adds each backend's own after graph)
CORE_VERBS = ("validate", "graph", "plan", "deploy", "inspect", "exec", "destroy", "cleanup", "pingall", "iperf",
              "run", "ui", "schema")


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The command line. With VERB (the command being run), a backend's verbs are added only if
    VERB is one of them or no verb at all matches: running `deploy` imports no backend's CLI; a
    backend verb, --help or a mistyped verb gets the whole list."""
    regs = backends.ensure_loaded()   # the backends' kinds, steps and verbs, once, before any command
    own = [v for cv in regs.cli_verbs for v in cv.verbs]
    everything = verb is None or (verb not in CORE_VERBS and verb not in own)
    p = argparse.ArgumentParser(prog="emulator", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"emulator {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter

    s = sub.add_parser("validate", help="check a topology file; exit 2 with file:line:column errors",
                       formatter_class=fmt, epilog="example:\n  emulator validate topologies/fw-chain.yaml")
    _topology_args(s, required=False)
    s.add_argument("--no-host-check", action="store_true",
                   help="skip checks of this host's kernel (netem for delay/loss...)")
    s.set_defaults(fn=cmd_validate)

    s = sub.add_parser("graph", help="print the compiled graph (text, dot or json)", formatter_class=fmt,
                       epilog="examples:\n  emulator graph topologies/lan.yaml\n"
                              "  emulator graph topologies/lan.yaml -f dot | dot -Tpng > lan.png")
    _topology_args(s, required=False)
    s.add_argument("-f", "--format", choices=["text", "dot", "json"], default="text")
    s.set_defaults(fn=cmd_graph)
    for cv in regs.cli_verbs:   # the backends' own (NSM: explain, import-nsm)
        if everything or verb in cv.verbs:
            cv.add(sub, fmt)

    s = sub.add_parser("plan", help="print the ordered actions a deploy would take (nothing is changed)",
                       formatter_class=fmt, epilog="example:\n  emulator plan topologies/fw-chain.yaml")
    _topology_args(s, required=False)
    s.set_defaults(fn=cmd_plan)

    s = sub.add_parser("deploy", help="build a lab from a topology", formatter_class=fmt,
                       epilog="examples:\n  emulator deploy topologies/fw-chain.yaml\n"
                              "  emulator deploy --topo linear,200\n"
                              "  emulator deploy --topo tree,2,3 --name t23\n"
                              "  emulator deploy --topo torus,3,3\n"
                              "  emulator deploy --custom mytopo.py --topo mytopo,3,bw=10\n"
                              "  emulator deploy lab.clab.yml              # a containerlab file")
    _topology_args(s, required=False)
    s.add_argument("--dry-run", action="store_true", help="print the plan instead of applying it")
    s.add_argument("-f", "--format", choices=["table", "json"], default="table")
    s.add_argument("--max-rows", type=int, default=60, help="rows of the node table to print (default 60)")
    s.add_argument("--hugepages", type=int, metavar="N",
                   help="for DPDK nodes: reserve hugepages (vm.nr_hugepages) until N are free")
    s.set_defaults(fn=cmd_deploy)

    s = sub.add_parser("inspect", help="list labs, or show one lab with live link state", formatter_class=fmt,
                       epilog="examples:\n  emulator inspect\n  emulator inspect fw-chain -f json")
    s.add_argument("lab", nargs="?", metavar="LAB")
    s.add_argument("-f", "--format", choices=["table", "json"], default="table")
    s.add_argument("--max-rows", type=int, default=200)
    s.set_defaults(fn=cmd_inspect)

    s = sub.add_parser("exec", help="run a command inside a node (its exit code is passed through)",
                       formatter_class=fmt, epilog="examples:\n  emulator exec fw-chain client -- ip -br addr\n"
                                                   "  emulator exec fw-chain client -- bash   # a shell")
    s.add_argument("lab", metavar="LAB")
    s.add_argument("node", metavar="NODE")
    s.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD")
    s.set_defaults(fn=cmd_exec)

    s = sub.add_parser("destroy", help="remove a lab (by name or by its topology file)", formatter_class=fmt,
                       epilog="examples:\n  emulator destroy fw-chain\n  emulator destroy topologies/fw-chain.yaml\n"
                              "  emulator destroy --topo linear,200")
    s.add_argument("target", nargs="?", metavar="LAB|TOPOLOGY")
    s.add_argument("--topo", metavar="SHAPE")
    s.add_argument("--custom", metavar="FILE.py", help="with --topo: the Mininet custom file it came from")
    s.add_argument("--name", metavar="LAB", help="with a TOPOLOGY file or --topo: the name it was deployed under "
                                                 "(deploy --name)")
    s.set_defaults(fn=cmd_destroy)

    s = sub.add_parser("cleanup", help="remove what crashed runs left (found by journal and tag)",
                       formatter_class=fmt,
                       epilog="Only objects the emulator made are touched: labs it journaled under /run/emulator\n"
                              "and namespaces whose loopback carries its 'emulator:<lab>' tag.")
    s.add_argument("--all", action="store_true", help="remove every lab, running ones included")
    s.set_defaults(fn=cmd_cleanup)

    s = sub.add_parser("pingall", help="every addressed node pings every other one (like mn --test pingall)",
                       formatter_class=fmt, epilog="example:\n  emulator pingall minimal\n"
                                                   "exit code 0 when every ping was answered, 1 otherwise")
    s.add_argument("lab", metavar="LAB")
    s.add_argument("--timeout", type=float, default=1.0, metavar="SECONDS", help="wait per ping (default 1)")
    s.set_defaults(fn=cmd_pingall)

    s = sub.add_parser("iperf", help="TCP throughput between two nodes with iperf3 (like mn --test iperf)",
                       formatter_class=fmt, epilog="example:\n  emulator iperf minimal h1 h2")
    s.add_argument("lab", metavar="LAB")
    s.add_argument("client", metavar="A", help="the node that sends")
    s.add_argument("server", metavar="B", help="the node that receives (runs the iperf3 server)")
    s.add_argument("-t", "--time", type=float, default=2.0, metavar="SECONDS", help="duration (default 2)")
    s.set_defaults(fn=cmd_iperf)

    s = sub.add_parser("run", help="run a scenario: deploy, drive traffic, assert, report, tear down",
                       formatter_class=fmt,
                       epilog="examples:\n  emulator run scenarios/smoke.yaml\n"
                              "  emulator run scenarios/1s1c.yaml --set duration=60 --keep\n"
                              "  emulator run scenarios/smoke.yaml --junit out.xml --results results/smoke\n\n")
    s.format_help = functools.partial(_help_with_steps, s)   # the step types, imported only for this help
    s.add_argument("scenario", metavar="SCENARIO", help="scenario YAML file")
    s.add_argument("--keep", action="store_true", help="leave the lab running afterwards")
    s.add_argument("--results", metavar="DIR", help="results directory (default results/NAME-TIMESTAMP)")
    s.add_argument("--junit", metavar="FILE", help="also write JUnit XML here (for CI systems)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter (repeatable)")
    s.add_argument("--name", metavar="LAB", help="lab name instead of the topology's (to run a scenario twice "
                                                "side by side, or next to a lab of that name)")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("ui", help="serve the web UI: draw, validate, deploy, consoles (prints a URL with a token)",
                       formatter_class=fmt, epilog="examples:\n  emulator ui\n  emulator ui topologies/fw-chain.yaml "
                                                   "--port 8051")
    s.add_argument("topology", nargs="?", metavar="TOPOLOGY", help="a topology file to open")
    s.add_argument("--port", type=int, default=8050)
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; the token is "
                                                       "always required)")
    s.add_argument("--scenario-dir", action="append", default=[], metavar="DIR",
                   help="also offer and run scenarios from DIR (besides ./scenarios); repeatable")
    s.add_argument("--topology-dir", action="append", default=[], metavar="DIR",
                   help="scenarios may also use topology files from DIR (besides ./topologies and the "
                        "TOPOLOGY's directory); repeatable")
    s.set_defaults(fn=cmd_ui)

    s = sub.add_parser("schema", help="print the topology JSON Schema (for editors)",
                       formatter_class=fmt, epilog="example:\n  emulator schema > topology.schema.json")
    s.set_defaults(fn=cmd_schema)
    return p


def _verb(argv: list[str]) -> str | None:
    """The command argv runs (its first word that is not an option), None for none."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(_verb(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return EXIT_INVALID
    args.program = argv is None   # the program's own run (not an in-process call): its signals are ours
    try:
        code = args.fn(args)
        if argv is None:   # the program's own run, output complete: a late Ctrl-C must not kill it half way
            signal.signal(signal.SIGINT, signal.SIG_IGN)   # out of interpreter shutdown (exit -2, lab left up)
        return code
    except EmulatorError as e:
        print(f"error: {escape_lines(str(e))}", file=sys.stderr)   # no terminal escapes from user values
        return e.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted: everything this command had created was removed", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
