"""The `ebpf_counters` scenario step and what `emulator inspect LAB` shows of the eBPF programs.

    - ebpf_counters: {node: fw}
      expect: {dropped: "> 0", forwarded: "> 1000"}

Measurements: `passed` and `dropped` (packets, summed over the node's eBPF firewalls), `forwarded`
(packets, over its forwarders), `directions` (per forwarder direction, e.g. eth0->eth1: packets)
and `programs` (each attachment with its counters)."""
from __future__ import annotations

from ...scenario.steps import Step, StepError, StepResult
from . import tool


def node_counters(lab: str, node: str) -> dict:
    items = [m for m in tool.show(lab) if m["node"] == node]
    if not items:
        raise StepError(f"node '{node}' of lab '{lab}' runs no eBPF program (give it an ebpf-firewall "
                        f"or ebpf-forwarder vnf)")
    m = {"passed": 0, "dropped": 0, "forwarded": 0, "directions": {}, "programs": []}
    for it in items:
        if it.get("error"):
            raise StepError(it["error"])
        vals = it["values"]
        if it["role"] == "ebpf-firewall":
            m["passed"] += vals["passed"]["packets"]
            m["dropped"] += vals["dropped"]["packets"]
        else:
            for label, v in vals.items():
                m["forwarded"] += v["packets"]
                m["directions"][label] = v["packets"]
        m["programs"].append({"name": it["name"], "role": it["role"], "devices": it["devices"],
                              "hook": it.get("attach", it["hook"]), "counters": vals})
    return m


class EbpfCounters(Step):
    type = "ebpf_counters"
    node_fields = ("node",)
    summary = "read the packet counters of a node's eBPF programs (firewall passed/dropped, forwarder per direction)"
    metrics = ("passed", "dropped", "forwarded", "directions", "programs")
    schema = {"type": "object", "additionalProperties": False, "required": ["node"],
              "properties": {"node": {"type": "string", "description": "a node with an eBPF vnf"}}}

    def default_name(self, a):
        return f"eBPF counters of {a['node']}"

    def run(self, ctx, a):
        m = node_counters(ctx.lab, a["node"])
        dirs = ", ".join(f"{k} {v}" for k, v in m["directions"].items())
        return StepResult(m, summary=f"{a['node']}: passed {m['passed']}, dropped {m['dropped']}"
                                     + (f", forwarded {dirs}" if dirs else ""))


def inspect_text(st: dict) -> str:
    lab = st.get("name")
    if not lab:
        return ""
    try:
        items = tool.show(lab)
    except Exception as e:   # inspect shows the rest of the lab whatever happens here
        return f"eBPF programs: cannot read them: {e}"
    if not items:
        return ""
    return "eBPF programs:\n" + "\n".join("  " + line for line in tool.show_text(items).splitlines())
