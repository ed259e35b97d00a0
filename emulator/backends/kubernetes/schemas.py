"""Every exported object checked before it is written.

Built-in kinds (Pod, Deployment, ConfigMap, Namespace) against the OpenAPI schemas of Kubernetes
`K8S_VERSION`, with `kubernetes-validate` (it ships the schemas: no network, no cluster); the
custom resources (NSM's NetworkService, meshnet's Topology) against the fields of their CRDs,
kept with the tests (tests/data/k8s-crds/, each file naming the CRD it was written from).
"""
from __future__ import annotations

from ...errors import EnvironmentProblem

K8S_VERSION = "1.30.0"


def validate_builtin(obj: dict, version: str = K8S_VERSION) -> list[str]:
    """Problems of one built-in object ([] when it is valid), strict: unknown fields are errors."""
    try:
        import kubernetes_validate
    except ImportError:
        raise EnvironmentProblem("checking the exported objects needs kubernetes-validate: "
                                 "pip install -e '.[test]' (or --no-validate)") from None
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        return [f"{obj['kind']} {obj['metadata'].get('name')}: {path}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return []    # a custom resource: checked against its CRD's fields elsewhere
    return []


def validate_all(objects: dict, version: str = K8S_VERSION) -> list[str]:
    out = []
    for objs in objects.values():
        for o in objs:
            out += validate_builtin(o, version)
    return out
