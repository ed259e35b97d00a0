"""A compiled lab -> Kubernetes objects: meshnet pods for plain nodes, NSM resources for services.

Plain nodes (host, router) become Pods, one meshnet `Topology` (networkop.co.uk/v1beta1) per pod
naming its links as KNE writes them, and a ConfigMap with the pod's start script: it waits until
meshnet has made every link interface, then sets the addresses, MTUs, MACs, impairments (tc),
routes and sysctls of the compiled topology and runs its startup commands.
A `bridge` node becomes a pod whose start script makes a Linux bridge of its link interfaces.
Interface `ethK` of the topology is `eth(K+1)` in the pod (eth0 is the pod's cluster network), in
routes and in startup commands alike.

Network services become NSM's own objects: a `NetworkService` (networkservicemesh.io/v1) per service,
a Deployment per endpoint with NSM's environment (NSM_SERVICE_NAMES, NSM_LABELS, NSM_CIDR_PREFIX...),
a Pod per client with the `networkservicemesh.io` annotation (its requests); a DPDK end asks for
memif, which NSM's VPP forwarder builds. Fields NSM has no place for (the VNF role's parameters, the
DPDK settings) ride in `emulator.io/...` annotations so that `import-nsm` gives back the same lab.
"""
from __future__ import annotations

import json
import re
import shlex

from ...errors import TopologyError

MESHNET_API = "networkop.co.uk/v1beta1"
NSM_API = "networkservicemesh.io/v1"
NODE_IMAGE = "nicolaka/netshoot:v0.13"        # iproute2, iptables, ethtool, tc in one image
NSM_VERSION = "v1.14.0"
NSE_IMAGES = {   # the endpoint image of NSM's deployments-k8s apps, by the VNF role of the endpoint
    "icmp-responder": "ghcr.io/networkservicemesh/cmd-nse-icmp-responder",
    "passthrough": "ghcr.io/networkservicemesh/cmd-nse-icmp-responder",
    "iptables-firewall": "ghcr.io/networkservicemesh/cmd-nse-firewall-vpp",
    "iperf3-server": "ghcr.io/networkservicemesh/cmd-nse-icmp-responder",
    "nat": "ghcr.io/networkservicemesh/cmd-nse-icmp-responder",
    "dpdk": "ghcr.io/networkservicemesh/cmd-nse-icmp-responder-vpp",
}
NSC_IMAGE = "alpine:3.20"
#: the NSM forwarder (a DaemonSet NSM installs on every node) that builds a hop of each mechanism
FORWARDER_FOR = {"kernel": "forwarder-vpp", "memif": "forwarder-vpp"}


def forwarder_for(mechanism: str) -> str | None:
    """The NSM forwarder that builds a hop; a hop through a VPP forwarder names each side's mechanism
    (`memif->kernel`), which NSM's VPP forwarder builds when it builds both sides."""
    sides = {FORWARDER_FOR.get(m) for m in mechanism.split("->")}
    return sides.pop() if len(sides) == 1 else None
PLAIN_KINDS = ("host", "router")
NSM_KINDS = ("nse", "nsc")
REFUSED = {   # kind -> why it has no Kubernetes construct here
    "ovs": "an Open vSwitch bridge needs OVS on the cluster node (ovs-cni) and its kernel module; "
           "meshnet links are veth pairs between pods",
    "ovs-dpdk": "OVS-DPDK needs a node with hugepages, DPDK-bound NICs and OVS-DPDK (SR-IOV/userspace CNI); "
                "meshnet links are veth pairs",
    "dpdk-app": "a DPDK app needs hugepages and DPDK ports; meshnet links are kernel veths (as a network "
                "service endpoint or client, give it dpdk: so that NSM's VPP forwarder builds memif)",
    "vpp": "VPP needs hugepages and a memif/DPDK data plane; export it as an NSM endpoint instead",
}
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def k8s_name(name: str) -> str:
    """A DNS-1123 label for a node name (lowercase, '-' for anything else)."""
    n = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-") or "x"
    return n[:63].rstrip("-")


def pod_ifname(name: str) -> str:
    """The pod's name for topology interface NAME: ethK -> eth(K+1), eth0 being the cluster network."""
    m = re.fullmatch(r"eth(\d+)", name)
    return f"eth{int(m.group(1)) + 1}" if m else name


def _rename_words(text: str, names: list[str]) -> str:
    """Interface names as whole words in a startup command, renamed in one pass."""
    names = [n for n in names if pod_ifname(n) != n]
    if not names:
        return text
    pat = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")(?![\w-])")
    return pat.sub(lambda m: pod_ifname(m.group(1)), text)


class Exporter:
    def __init__(self, compiled, raw: dict, src, image: str = NODE_IMAGE):
        self.c = compiled
        self.lab = compiled.lab
        self.raw = raw
        self.src = src
        self.image = image
        self.ns = k8s_name(f"emu-{self.lab.name}")
        self.names: dict[str, str] = {}
        self.objects: dict[str, list[dict]] = {}   # file name -> objects, in order
        self.notes: list[str] = []
        self.n_plain_links = len(raw.get("links") or [])

    # -- checks -----------------------------------------------------------------------------
    def check(self) -> None:
        issues = []
        seen: dict[str, str] = {}
        # a `type: vpp` NSM forwarder runs locally as a vpp node named after it; in a cluster it is
        # NSM's own forwarder-vpp DaemonSet, which the hops' ConfigMap names: no pod of ours
        nsm_forwarders = {n for n, f in (self.raw.get("forwarders") or {}).items()
                          if isinstance(f, dict) and f.get("type") == "vpp"}
        for name, node in self.lab.nodes.items():
            kind = (self.raw["nodes"].get(name) or {}).get("kind", node.kind)   # a DPDK nse stays an nse
            if name in nsm_forwarders and name not in (self.raw.get("nodes") or {}):
                self.names[name] = k8s_name(name)
                continue
            if kind in REFUSED or kind not in PLAIN_KINDS + NSM_KINDS + ("bridge",):
                why = REFUSED.get(kind, f"kind {kind} has no Kubernetes construct in this export")
                issues.append(self.src.issue(("nodes", name, "kind"),
                                             f"node '{name}' (kind {kind}) cannot be exported to Kubernetes: {why}",
                                             "remove it from the topology for the export, or run it locally"))
            if kind in NSM_KINDS and (self.raw["nodes"].get(name) or {}).get("vpp") is not None:
                issues.append(self.src.issue(("nodes", name, "vpp"),
                                             f"node '{name}' (a VPP {kind}) cannot be exported to Kubernetes: NSM's VPP endpoints "
                                             "(cmd-nse-firewall-vpp...) take their ACLs and interfaces from "
                                             "their own configuration, which this export does not write",
                                             "make it a kernel endpoint (drop vpp:) for the export, or run it "
                                             "locally"))
            kn = k8s_name(name)
            if kn in seen:
                issues.append(self.src.issue(("nodes", name), f"nodes '{seen[kn]}' and '{name}' have the same "
                                                              f"Kubernetes name '{kn}'", "rename one of them"))
            seen[kn] = name
            self.names[name] = kn
        for link in self.lab.links[:self.n_plain_links]:
            for end in (link.a, link.b):
                if self.lab.nodes[end.node].kind in NSM_KINDS:
                    issues.append(self.src.issue(link.path, f"'{end.node}' is an NSM {self.lab.nodes[end.node].kind} "
                                                            "with a plain link: NSM makes its pods' connections, "
                                                            "meshnet only links pods it knows by name",
                                                 "connect it through a network service, or make it a host"))
            if link.type != "veth":
                issues.append(self.src.issue(link.path + ("type",), f"a {link.type} link has no meshnet form "
                                                                    "(meshnet links are veth pairs)"))
        for ch in self.c.services:
            for h in ch.hops:
                if forwarder_for(h.mechanism) is None:
                    issues.append(self.src.issue(h.path, f"the hop {h.client} -> {h.endpoint} of service "
                                                         f"'{ch.service}' is {h.mechanism}: no NSM forwarder "
                                                         "builds that mechanism",
                                                 "NSM's VPP forwarder builds kernel and memif: set the endpoint's "
                                                 "mechanisms: to one of those"))
        if issues:
            raise TopologyError(issues)

    # -- plain nodes: pods + meshnet ------------------------------------------------------------
    def plain(self) -> None:
        links: dict[str, list[dict]] = {}
        for link in self.lab.links[:self.n_plain_links]:
            uid = link.id + 1
            for a, b in ((link.a, link.b), (link.b, link.a)):
                entry = {"uid": uid, "peer_pod": self.names[b.node], "local_intf": pod_ifname(a.name),
                         "peer_intf": pod_ifname(b.name)}
                if a.addresses:
                    entry["local_ip"] = a.addresses[0]
                if b.addresses:
                    entry["peer_ip"] = b.addresses[0]
                links.setdefault(a.node, []).append(entry)
        out = self.objects.setdefault("nodes.yaml", [])
        for name, node in self.lab.nodes.items():
            if name not in links and node.kind not in PLAIN_KINDS + ("bridge",):
                continue
            kn = self.names[name]
            script = self.start_script(node)
            out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{kn}-start",
                                                                            "labels": self.labels(name)},
                        "data": {"start.sh": script}})
            # the Topology first: meshnet's CNI reads it when the pod's sandbox is made
            out.append({"apiVersion": MESHNET_API, "kind": "Topology",
                        "metadata": {"name": kn, "labels": self.labels(name)},
                        "spec": {"links": links.get(name, [])}})
            out.append(self.pod(name, node))

    def labels(self, name: str) -> dict:
        return {"emulator.io/lab": k8s_name(self.lab.name), "emulator.io/node": self.names[name]}

    def pod(self, name: str, node) -> dict:
        kn = self.names[name]
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": kn, "labels": self.labels(name),
                             "annotations": {"emulator.io/kind": node.kind}},
                "spec": {"containers": [{
                    "name": "node", "image": self.image, "imagePullPolicy": "IfNotPresent",
                    "command": ["/bin/sh", "/emulator/start.sh"],
                    "securityContext": {"privileged": True},   # addresses, routes, sysctls, tc in its netns
                    "volumeMounts": [{"name": "start", "mountPath": "/emulator"}]}],
                    "terminationGracePeriodSeconds": 0,
                    "volumes": [{"name": "start", "configMap": {"name": f"{kn}-start"}}]}}

    def start_script(self, node) -> str:
        ifs = [i for i in node.interfaces.values() if i.link >= 0 and i.link < self.n_plain_links]
        names = list(node.interfaces)
        q = shlex.quote
        lines = ["#!/bin/sh", f"# node {node.name} (kind {node.kind}) of lab {self.lab.name}, written by "
                 "`emulator export kubernetes`", "set -e"]
        if ifs:
            wanted = " ".join(q(pod_ifname(i.name)) for i in ifs)
            lines += ["# wait until meshnet has made every link interface (5 min at most)",
                      f"for i in {wanted}; do",
                      "  n=0; until ip link show \"$i\" >/dev/null 2>&1; do",
                      "    n=$((n+1)); [ $n -le 300 ] || { echo \"link $i never came\" >&2; exit 1; }; sleep 1",
                      "  done", "done"]
        if node.kind == "bridge":
            br = q(node.device or "br0")
            lines.append(f"ip link add {br} type bridge" + (" stp_state 1" if node.props.get("stp") else ""))
            lines += [f"ip link set {q(pod_ifname(i.name))} master {br}" for i in ifs]
            lines.append(f"ip link set {br} up")
        for i in ifs:
            dev = q(pod_ifname(i.name))
            link = self.lab.links[i.link]
            if i.mac:
                lines.append(f"ip link set {dev} address {q(i.mac)}")
            if link.mtu or i.mtu:
                lines.append(f"ip link set {dev} mtu {int(i.mtu or link.mtu)}")
            lines += [f"ip addr add {q(a)} dev {dev}" for a in i.addresses if a not in _meshnet_set(i)]
            lines.append(f"ip link set {dev} up")
            lines += self.tc(dev, link.impairment)
        for k, v in node.sysctls.items():
            lines.append(f"sysctl -w {q(f'{k}={v}')}")
        for r in node.routes:
            cmd = f"ip route replace {q(r.to)}"
            if r.via:
                cmd += f" via {q(r.via)}"
            if r.dev:
                cmd += f" dev {q(pod_ifname(r.dev))}"
            if r.metric is not None:
                cmd += f" metric {int(r.metric)}"
            lines.append(cmd)
        if node.exec:   # what startup commands see in a local lab
            lines.append(f"export EMULATOR_LAB={q(self.lab.name)} EMULATOR_NODE={q(node.name)} "
                         "EMULATOR_PYTHON=python3")
        for argv in node.exec:
            cmd = argv[2] if argv[:2] == ["/bin/sh", "-c"] and len(argv) == 3 else shlex.join(argv)
            lines.append(_rename_words(cmd, names))
        lines += ["echo ready", "exec sleep infinity"]
        return "\n".join(lines) + "\n"

    @staticmethod
    def tc(dev: str, imp) -> list[str]:
        args = []
        if imp.delay:
            args += ["delay", f"{imp.delay * 1e6:.0f}us"] + ([f"{imp.jitter * 1e6:.0f}us"] if imp.jitter else [])
        if imp.loss:
            args += ["loss", f"{imp.loss}%"]
        if imp.bandwidth:
            args += ["rate", f"{int(imp.bandwidth)}bit"]
        return [f"tc qdisc replace dev {dev} root netem " + " ".join(args)] if args else []

    # -- network services: NSM's objects --------------------------------------------------------
    def services(self) -> None:
        from ..nsm.spec import parse_service, parse_services_list
        out = self.objects.setdefault("network-services.yaml", [])
        declared = dict(self.raw.get("services") or {})
        for name, rn in self.raw["nodes"].items():
            if rn.get("kind") == "nse":
                for s in parse_services_list(rn.get("services")):
                    declared.setdefault(s, None)
        for name, rs in declared.items():
            svc = parse_service(name, rs, lambda *a: None)
            spec = {"payload": svc.payload}
            if svc.matches:
                spec["matches"] = [_match(m) for m in svc.matches]
            out.append({"apiVersion": NSM_API, "kind": "NetworkService",
                        "metadata": {"name": name, "labels": {"emulator.io/lab": k8s_name(self.lab.name)}},
                        "spec": spec})
        work = self.objects.setdefault("workloads.yaml", [])
        for name, rn in self.raw["nodes"].items():
            if rn.get("kind") == "nse":
                work.append(self.endpoint(name, rn))
            elif rn.get("kind") == "nsc":
                work.append(self.client(name, rn))

    def _carry(self, rn: dict, keys: tuple) -> dict:
        return {f"emulator.io/{k}": json.dumps(rn[k], sort_keys=True) for k in keys if k in rn}

    def endpoint(self, name: str, rn: dict) -> dict:
        from ..nsm.spec import parse_services_list
        kn = self.names[name]
        role = rn.get("vnf")
        role = "dpdk" if rn.get("dpdk") is not None else (role if isinstance(role, str) else
                                                          (role or {}).get("type", "passthrough"))
        env = [{"name": "SPIFFE_ENDPOINT_SOCKET", "value": "unix:///run/spire/sockets/agent.sock"},
               {"name": "NSM_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
               {"name": "NSM_CONNECT_TO", "value": "unix:///var/lib/networkservicemesh/nsm.io.sock"},
               {"name": "NSM_SERVICE_NAMES", "value": ",".join(parse_services_list(rn.get("services")))}]
        if rn.get("labels"):
            env.append({"name": "NSM_LABELS", "value": ",".join(f"{k}:{v}" for k, v in rn["labels"].items())})
        if rn.get("cidr"):
            env.append({"name": "NSM_CIDR_PREFIX", "value": str(rn["cidr"])})
        env.append({"name": "NSM_REGISTER_SERVICE", "value": "false"})
        ann = {"emulator.io/kind": "nse",
               **self._carry(rn, ("vnf", "dpdk", "mechanisms", "service_labels"))}
        pod_labels = {**self.labels(name), "app": kn, "spiffe.io/spiffe-id": "true"}
        tmpl = {"metadata": {"labels": pod_labels, "annotations": ann},
                "spec": {"containers": [{
                    "name": "nse", "image": f"{NSE_IMAGES.get(role, NSE_IMAGES['passthrough'])}:{NSM_VERSION}",
                    "imagePullPolicy": "IfNotPresent", "env": env,
                    "volumeMounts": [{"name": "spire-agent-socket", "mountPath": "/run/spire/sockets",
                                      "readOnly": True},
                                     {"name": "nsm-socket", "mountPath": "/var/lib/networkservicemesh",
                                      "readOnly": True}],
                    "resources": {"requests": {"cpu": "100m", "memory": "40Mi"}}}],
                    "volumes": [{"name": "spire-agent-socket", "csi": {"driver": "csi.spiffe.io", "readOnly": True}},
                                {"name": "nsm-socket", "csi": {"driver": "csi.networkservicemesh.io",
                                                               "readOnly": True}}]}}
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": kn, "labels": {**self.labels(name), "app": kn}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": kn}}, "template": tmpl}}

    def client(self, name: str, rn: dict) -> dict:
        kn = self.names[name]
        reqs = []
        for i, r in enumerate(rn.get("requests") or []):
            if isinstance(r, dict):
                labels = "&".join(f"{k}={v}" for k, v in (r.get("labels") or {}).items())
                r = f"{r.get('mechanism', 'kernel')}://{r['service']}/{r.get('interface') or f'nsm{i}'}" + \
                    (f"?{labels}" if labels else "")
            reqs.append(str(r))
        ann = {"networkservicemesh.io": ",".join(reqs), "emulator.io/kind": "nsc",
               **self._carry(rn, ("dpdk",))}
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": kn, "labels": {**self.labels(name), "app": kn}, "annotations": ann},
                "spec": {"containers": [{"name": "client", "image": NSC_IMAGE, "imagePullPolicy": "IfNotPresent",
                                         "command": ["/bin/sh", "-c", "trap : TERM INT; sleep infinity & wait"]}]}}

    def chains_note(self) -> list[dict]:
        """Each chain's hops and the NSM forwarder that builds each hop, as a ConfigMap (documentation)."""
        rows = []
        for ch in self.c.services:
            for h in ch.hops:
                rows.append(f"{ch.client} {ch.service}: {h.client}:{h.client_if} -> {h.endpoint}:{h.endpoint_if} "
                            f"{h.mechanism} via {forwarder_for(h.mechanism)}")
        if not rows:
            return []
        return [{"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "emulator-chains", "labels": {"emulator.io/lab": k8s_name(self.lab.name)}},
                 "data": {"hops": "\n".join(rows) + "\n",
                          "forwarders": ",".join(sorted({forwarder_for(h.mechanism)
                                                         for ch in self.c.services for h in ch.hops})),
                          **({"emulator-forwarders": json.dumps(self.raw["forwarders"], sort_keys=True)}
                             if self.raw.get("forwarders") else {})}}]

    def build(self) -> dict[str, list[dict]]:
        self.check()
        self.plain()
        if any(rn.get("kind") in NSM_KINDS for rn in self.raw["nodes"].values()) or self.raw.get("services"):
            self.services()
            self.objects["network-services.yaml"] += self.chains_note()
        return {f: objs for f, objs in self.objects.items() if objs}


def _meshnet_set(iface) -> set:
    """The address meshnet sets itself (local_ip): the script adds only the others."""
    return {iface.addresses[0]} if iface.addresses else set()


def _match(m) -> dict:
    out: dict = {}
    if m.source_selector:
        out["source_selector"] = dict(m.source_selector)
    if m.routes:
        out["routes"] = [{"destination_selector": dict(r.destination_selector)} for r in m.routes]
    if m.fallthrough:
        out["fallthrough"] = True
    if m.metadata is not None:
        out["metadata"] = m.metadata
    return out
