"""The `ebpf_counters` scenario step and what `emulator inspect LAB` shows of the eBPF programs.

    - ebpf_counters: {node: fw}
      expect: {dropped: "> 0", forwarded: "> 1000"}

Measurements: `passed` and `dropped` (packets, summed over the node's eBPF firewalls), `forwarded`
(packets, over its forwarders), `directions` (per forwarder direction, e.g. eth0->eth1: packets)
and `programs` (each attachment with its counters).

    - ebpf_rules: {node: s1, allow: [icmp, tcp/5300]}   # replace the rules of its eBPF firewall(s) now
"""
from __future__ import annotations

from ...scenario.steps import Step, StepError, StepResult
from . import rules as R, tool


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


class EbpfRules(Step):
    type = "ebpf_rules"
    node_fields = ("node",)
    summary = "replace the rules of a node's eBPF firewall(s) while they run (deny first, then allow)"
    metrics = ("replaced",)
    schema = {"type": "object", "additionalProperties": False, "required": ["node"],
              "properties": {"node": {"type": "string"}, "dev": {"type": "string", "description": "only this interface's"},
                             "allow": R.RULE_LIST, "deny": R.RULE_LIST}}

    def default_name(self, a):
        return f"new eBPF firewall rules on {a['node']}"

    def check(self, a):
        return [((), p) for p in R.check(a.get("allow"), a.get("deny"))] if isinstance(a, dict) else []

    def run(self, ctx, a):
        try:
            done = tool.set_rules(ctx.lab, a["node"], a.get("dev"), a.get("allow"), a.get("deny"))
        except tool.Failed as e:
            raise StepError(str(e)) from None
        return StepResult({"replaced": len(done)}, summary=f"{a['node']}: rules replaced in {', '.join(done)}")


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
