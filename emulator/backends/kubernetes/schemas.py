"""Every exported object checked before it is written.

Built-in kinds (Pod, Deployment, ConfigMap, Namespace) against the OpenAPI schemas of Kubernetes
`K8S_VERSION`, with `kubernetes-validate` (it ships the schemas: no network, no cluster); the
custom resources (NSM's NetworkService, meshnet's Topology) against the fields of their CRDs,
kept with the tests (tests/data/k8s-crds/, each file naming the CRD it was written from).
"""
from __future__ import annotations

import re

from ...errors import EnvironmentProblem

K8S_VERSION = "1.30.0"


_validators: dict = {}


def _validator(api_version: str, kind: str, version: str):
    """A jsonschema validator for one kind, built once from kubernetes-validate's shipped schemas as its
    validate() builds it (strict), and reused: a lab of 1000 pods is checked in seconds, not minutes.
    None: kubernetes-validate has no schema for it (a custom resource)."""
    import kubernetes_validate
    from kubernetes_validate import utils as kv
    key = (api_version, kind, version)
    if key not in _validators:
        try:
            ver = [v for v in kv.all_versions() if kv.major_minor(v) <= kv.major_minor(version)][-1]
            api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
            sdir = f"v{ver}-local-strict"
            schema = kv.schema_contents(f"kubernetes-json-schema/{sdir}/{kind.lower()}-{api}.json", version)
            defs = kv.schema_contents(f"kubernetes-json-schema/{sdir}/_definitions.json", version)
            registry = kv.Resource.from_contents(defs) @ (kv.Resource.from_contents(schema) @ kv.Registry())
            _validators[key] = kv.jsonschema.validators.Draft202012Validator(schema, registry=registry)
        except FileNotFoundError:
            _validators[key] = None
        except Exception:   # the library changed inside: its own validate() per object
            _validators[key] = kubernetes_validate.validate
    return _validators[key]


def validate_builtin(obj: dict, version: str = K8S_VERSION) -> list[str]:
    """Problems of one built-in object ([] when it is valid), strict: unknown fields are errors."""
    try:
        import kubernetes_validate
    except ImportError:
        raise EnvironmentProblem("checking the exported objects needs kubernetes-validate: "
                                 "pip install -e '.[test]' (or --no-validate)") from None
    v = _validator(obj["apiVersion"], obj["kind"], version)
    if v is None:
        return []    # a custom resource: checked against its CRD's fields in the tests
    try:
        if v is kubernetes_validate.validate:
            v(obj, version, strict=True)
        else:
            v.validate(obj)
    except (kubernetes_validate.ValidationError, kubernetes_validate.utils.jsonschema.ValidationError) as e:
        path = ".".join(str(p) for p in e.path)
        return [f"{obj['kind']} {obj['metadata'].get('name')}: {path}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return []
    return []


def validate_all(objects: dict, version: str = K8S_VERSION) -> list[str]:
    out = []
    for objs in objects.values():
        for o in objs:
            out += validate_builtin(o, version)
    return out
