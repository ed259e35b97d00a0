"""`emulator import-nsm`: Network Service Mesh Kubernetes manifests -> a local topology.

Reads YAML files (every document of each; directories are searched for *.yaml/*.yml) and keeps:

- NetworkService resources (networkservicemesh.io/v1 or v1alpha1): `services:`, matches as written
  (both spellings are accepted by the topology format);
- workloads (Deployment, Pod, DaemonSet, StatefulSet, ReplicaSet, Job) whose containers set
  NSM_SERVICE_NAMES / NSM_SERVICE_NAME (v1) or ENDPOINT_NETWORK_SERVICE (0.2): endpoints
  (`kind: nse`) with labels from NSM_LABELS / ENDPOINT_LABELS (`app:x,version:2` or `app=x`) and
  cidr from NSM_CIDR_PREFIX / IP_ADDRESS;
- workloads with the `networkservicemesh.io` (v1) or `ns.networkservicemesh.io` (0.2) annotation,
  or NSM_NETWORK_SERVICES env, that are not endpoints: clients (`kind: nsc`) with those requests.

The VNF role of an endpoint is guessed from its container images (firewall, icmp-responder,
iperf, nat, passthrough); anything the import cannot map is listed as a comment at the top.
"""
from __future__ import annotations

import os
import re

import yaml

from ...errors import UsageError

WORKLOADS = ("Deployment", "Pod", "DaemonSet", "StatefulSet", "ReplicaSet", "Job")
SERVICE_ENV = ("NSM_SERVICE_NAMES", "NSM_SERVICE_NAME", "ENDPOINT_NETWORK_SERVICE")
LABEL_ENV = ("NSM_LABELS", "ENDPOINT_LABELS")
CIDR_ENV = ("NSM_CIDR_PREFIX", "IP_ADDRESS")
CLIENT_ANNOTATIONS = ("networkservicemesh.io", "ns.networkservicemesh.io")
ROLE_BY_IMAGE = (("icmp-responder", "icmp-responder"), ("iperf", "iperf3-server"), ("firewall", "iptables-firewall"),
                 ("nat", "nat"), ("passthrough", "passthrough"))


def _files(paths: list[str]) -> list[str]:
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, _dirs, files in sorted(os.walk(p)):
                out += [os.path.join(root, f) for f in sorted(files) if f.endswith((".yaml", ".yml"))]
        elif os.path.exists(p):
            out.append(p)
        else:
            raise UsageError(f"{p}: no such file or directory")
    return out


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
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Job":
        spec = spec
    tmpl = spec.get("template") or {}
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


def import_manifests(paths: list[str], name: str | None = None) -> str:
    """The topology YAML text for the manifests found under `paths`."""
    files = _files(paths)
    if not files:
        raise UsageError("no manifest files (*.yaml, *.yml) found")
    services: dict = {}
    nodes: dict = {}
    notes: list[str] = []
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                docs = list(yaml.safe_load_all(fh))
        except (OSError, yaml.YAMLError) as e:
            raise UsageError(f"{f}: cannot read: {e}") from None
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            kind, meta = doc.get("kind"), doc.get("metadata") or {}
            if kind == "NetworkService" and str(doc.get("apiVersion", "")).startswith("networkservicemesh.io"):
                spec = doc.get("spec") or {}
                sname = _name(spec.get("name") or meta.get("name"), 63)
                svc = {}
                if spec.get("payload"):
                    svc["payload"] = str(spec["payload"]).upper()
                if spec.get("matches"):
                    svc["matches"] = spec["matches"]
                services[sname] = svc
            elif kind in WORKLOADS:
                _workload(doc, f, nodes, notes)
            elif kind:
                notes.append(f"{os.path.basename(f)}: {kind} {meta.get('name', '')} ignored")
    if not nodes:
        raise UsageError("the manifests define no network service endpoint or client "
                         "(NSM_SERVICE_NAMES env, networkservicemesh.io annotation)")
    lab = _name(name or os.path.basename(os.path.abspath(paths[0])).rsplit(".", 1)[0], 32)
    topo = {"name": lab}
    if services:
        topo["services"] = services
    topo["forwarders"] = {"forwarder": {"type": "kernel"}}
    topo["nodes"] = nodes
    head = ["# imported by `emulator import-nsm` from:"] + [f"#   {f}" for f in files]
    head += [f"# note: {n}" for n in notes]
    return "\n".join(head) + "\n" + yaml.safe_dump(topo, sort_keys=False, default_flow_style=None, width=110)


def _workload(doc: dict, f: str, nodes: dict, notes: list[str]) -> None:
    meta = doc.get("metadata") or {}
    pmeta, pspec = _pod(doc)
    env = _env(pspec)
    node = _name(meta.get("name") or pmeta.get("name") or "pod")
    while node in nodes:
        node = _name(node + "-2")
    replicas = (doc.get("spec") or {}).get("replicas")
    if isinstance(replicas, int) and replicas > 1:
        notes.append(f"{node}: {replicas} replicas imported as one node")
    svc_value = next((env[k] for k in SERVICE_ENV if k in env), None)
    annotations = {**(meta.get("annotations") or {}), **(pmeta.get("annotations") or {})}
    requests = next((annotations[k] for k in CLIENT_ANNOTATIONS if annotations.get(k)), None) \
        or env.get("NSM_NETWORK_SERVICES")
    if svc_value:
        n = {"kind": "nse", "services": [s.strip() for s in svc_value.split(",") if s.strip()]}
        labels = parse_labels(next((env[k] for k in LABEL_ENV if k in env), ""))
        if labels:
            n["labels"] = labels
        cidr = next((env[k] for k in CIDR_ENV if k in env), None)
        if cidr:
            first = cidr.split(",")[0].strip()
            n["cidr"] = first
            if "," in cidr:
                notes.append(f"{node}: only the first of the prefixes {cidr} is used")
        images = " ".join(_images(pspec)).lower()
        role = next((r for key, r in ROLE_BY_IMAGE if key in images), None)
        if role:
            n["vnf"] = role
        if requests:
            notes.append(f"{node}: its own requests ({requests}) follow from the service's matches")
        nodes[node] = n
    elif requests:
        nodes[node] = {"kind": "nsc", "requests": [r.strip() for r in str(requests).split(",") if r.strip()]}
    else:
        notes.append(f"{os.path.basename(f)}: {doc.get('kind')} {node} has no NSM role, ignored")
