"""Where the exported pods run: the `placement:` section and `--spread N`.

    placement:
      node_labels: {topology.kubernetes.io/zone: lab-a}   # every pod: nodeSelector
      latency_budget_us: 20000                           # every pod, unless a node says otherwise
      nodes:
        fw: {latency_budget_us: 3000}                    # -> class dpdk-nic
        h1: {node_labels: {kubernetes.io/hostname: worker-2}}

A latency budget (seed 002's per-packet budget, microseconds) picks a node class, which the pod
asks for with the node label `emulator.io/node-class` and resource requests:

    < 800 us        impossible: no exported construct adds less (the export refuses, naming the node)
    800..5000       dpdk-nic: a node with free DPDK NICs (exclusive CPUs, hugepages)
    5000..10000     ovs-dpdk: a node running OVS-DPDK (hugepages)
    above           plain: any node

`--spread N` splits the lab's pods into N parts (networkx's Kernighan-Lin bisection, recursively,
largest part first, the best of a breadth-first split and 4 seeded starts) so that few links cross parts; a pod of part k asks for the node label
`emulator.io/part: "k"`. The cut (links between parts) is reported.
"""
from __future__ import annotations

from ...errors import TopologyError

CLASS_LABEL = "emulator.io/node-class"
PART_LABEL = "emulator.io/part"
SEEDS = 4    # Kernighan-Lin is a local search: the best of a breadth-first split and 4 seeded starts is kept
_LABELS = {"type": "object", "additionalProperties": {"type": "string"},
           "description": "node labels the pod must run on (nodeSelector)"}
_BUDGET = {"type": "number", "exclusiveMinimum": 0,
           "description": "latency budget in microseconds: picks a node class (see the README)"}
SCHEMA = {"type": "object", "additionalProperties": False,
          "description": "where `emulator export kubernetes` places the pods",
          "properties": {"node_labels": _LABELS, "latency_budget_us": _BUDGET,
                         "nodes": {"type": "object", "additionalProperties": {
                             "type": "object", "additionalProperties": False,
                             "properties": {"node_labels": _LABELS, "latency_budget_us": _BUDGET}}}}}
#: class -> resource requests (and limits where Kubernetes wants them equal: hugepages, exclusive CPUs)
RESOURCES = {
    "dpdk-nic": {"requests": {"cpu": "2", "memory": "1Gi", "hugepages-2Mi": "1Gi"},
                 "limits": {"cpu": "2", "memory": "1Gi", "hugepages-2Mi": "1Gi"}},
    "ovs-dpdk": {"requests": {"cpu": "1", "memory": "512Mi", "hugepages-2Mi": "512Mi"},
                 "limits": {"memory": "512Mi", "hugepages-2Mi": "512Mi"}},
    "plain": {"requests": {"cpu": "100m", "memory": "64Mi"}},
}


def node_class(budget_us: float) -> str | None:
    """The node class for a latency budget; None: no construct meets it (< 800 us)."""
    if budget_us < 800:
        return None
    if budget_us <= 5000:
        return "dpdk-nic"
    if budget_us <= 10000:
        return "ovs-dpdk"
    return "plain"


def _pod_spec(obj: dict) -> dict | None:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
        return obj["spec"]["template"]["spec"]
    return None


def workloads(objects: dict) -> dict[str, dict]:
    """emulator node name (label emulator.io/node) -> the pod spec that runs it."""
    out = {}
    for objs in objects.values():
        for o in objs:
            spec = _pod_spec(o)
            if spec is not None:
                labels = o["metadata"].get("labels") or {}
                out[labels.get("emulator.io/node", o["metadata"]["name"])] = spec
    return out


def apply(objects: dict, exporter, placement: dict | None) -> list[str]:
    """Write nodeSelector and resources into every pod spec; return report lines."""
    placement = placement or {}
    src = exporter.src
    by_k8s = {v: k for k, v in exporter.names.items()}
    specs = workloads(objects)
    issues, report = [], []
    for node in placement.get("nodes") or {}:
        if node not in exporter.names:
            issues.append(src.issue(("placement", "nodes", node), f"no node '{node}' in this topology",
                                    "nodes: " + ", ".join(exporter.names)))
    for kn, spec in specs.items():
        name = by_k8s.get(kn, kn)
        own = (placement.get("nodes") or {}).get(name) or {}
        selector = {**(placement.get("node_labels") or {}), **(own.get("node_labels") or {})}
        budget = own.get("latency_budget_us", placement.get("latency_budget_us"))
        if budget is not None:
            where = ("placement", "nodes", name, "latency_budget_us") if "latency_budget_us" in own else \
                ("placement", "latency_budget_us")
            cls = node_class(float(budget))
            if cls is None:
                issues.append(src.issue(where, f"node '{name}': a latency budget of {budget} us is impossible "
                                               "on Kubernetes (below 800 us no exported construct is fast enough)",
                                        "800..5000: a node with free DPDK NICs; 5000..10000: an OVS-DPDK node; "
                                        "above: any node"))
                continue
            selector[CLASS_LABEL] = cls
            for c in spec["containers"]:
                c["resources"] = {k: dict(v) for k, v in RESOURCES[cls].items()}
            report.append(f"{name}: latency budget {budget} us -> node class {cls}")
        if selector:
            spec["nodeSelector"] = {**spec.get("nodeSelector", {}), **selector}
    if issues:
        raise TopologyError(issues)
    return report


def partition(exporter, n: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(node -> part, links cut) for N parts; links are the lab's plain links and its chains' hops."""
    import networkx as nx
    from networkx.algorithms.community import kernighan_lin_bisection
    g = nx.Graph()
    g.add_nodes_from(exporter.names)
    edges = [(link.a.node, link.b.node) for link in exporter.lab.links[:exporter.n_plain_links]]
    edges += [(h.client, h.endpoint) for ch in exporter.c.services for h in ch.hops]
    for a, b in edges:
        if a != b:
            w = g.get_edge_data(a, b, {}).get("weight", 0)
            g.add_edge(a, b, weight=w + 1)
    parts = [sorted(g.nodes)]
    while len(parts) < n:
        parts.sort(key=len, reverse=True)
        big = parts.pop(0)
        if len(big) < 2:
            parts.append(big)
            break
        sub = g.subgraph(big)
        order = _sweep_order(sub)
        starts = [(set(order[:len(order) // 2]), set(order[len(order) // 2:]))]
        tries = [kernighan_lin_bisection(sub, partition=starts[0], weight="weight")]
        tries += [kernighan_lin_bisection(sub, weight="weight", seed=s) for s in range(SEEDS)]
        a, b = min(tries, key=lambda ab: (nx.cut_size(sub, ab[0], ab[1], weight="weight"), sorted(ab[0])))
        parts += [sorted(a), sorted(b)]
    parts.sort(key=lambda p: p[0] if p else "")
    where = {node: i for i, p in enumerate(parts) for node in p}
    cut = [(a, b) for a, b in edges if where[a] != where[b]]
    return where, cut


def _sweep_order(g) -> list:
    """The nodes in breadth-first order from a peripheral node of each component (a double sweep):
    its two halves are a good first cut for long chains and trees, which Kernighan-Lin then refines."""
    import networkx as nx
    order = []
    for comp in sorted(nx.connected_components(g), key=lambda c: sorted(c)[0]):
        start = sorted(comp)[0]
        far = list(nx.bfs_tree(g, start))[-1]
        order += list(nx.bfs_tree(g, far))
    return order


def spread(objects: dict, exporter, n: int) -> list[str]:
    where, cut = partition(exporter, n)
    specs = workloads(objects)
    for name, part in where.items():
        spec = specs.get(exporter.names[name])
        if spec is not None:
            spec["nodeSelector"] = {**spec.get("nodeSelector", {}), PART_LABEL: str(part)}
    sizes = [sum(1 for p in where.values() if p == k) for k in range(max(where.values(), default=-1) + 1)]
    return [f"spread over {len(sizes)} cluster nodes (label them {PART_LABEL}=0..{len(sizes) - 1}): "
            f"pods per node {sizes}; {len(cut)} of "
            f"{exporter.n_plain_links + sum(len(ch.hops) for ch in exporter.c.services)} links cross nodes"] + \
        [f"  cut: {a} -- {b}" for a, b in cut]
