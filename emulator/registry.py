"""One small registry type for every "kind of thing" the project looks up by name
(node drivers, link types, scenario steps, VNF roles, NSM forwarder types), and `Registries`:
all of them for the backends, filled by `register(registries)` of each (emulator/backends/)."""
from __future__ import annotations

import difflib
import importlib
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str, key: str = "name"):
        self.what = what     # "link type", "step type"...: used in messages
        self.key = key       # the attribute that names an entry
        self._items: dict[str, T] = {}

    def register(self, item: T) -> T:
        name = getattr(item, self.key)
        if not name:
            raise ValueError(f"{type(item).__name__} has no {self.key}")
        if name in self._items:
            raise ValueError(f"{self.what} '{name}' is registered twice "
                             f"({type(self._items[name]).__name__} and {type(item).__name__})")
        self._items[name] = item
        return item

    def register_lazy(self, name: str, target: str) -> None:
        """Register NAME now and import its entry on first `get` (or `values`): TARGET is
        'package.module:Class', instantiated without arguments, whose key attribute must be NAME.
        Backends declare this way what only some commands use (scenario steps), so that loading
        every backend at start-up does not import their modules."""
        if name in self._items:
            raise ValueError(f"{self.what} '{name}' is registered twice")
        self._items[name] = _Lazy(target)

    def get(self, name: str) -> T:
        item = self._items[name]
        if type(item) is _Lazy:
            item = self._items[name] = item.load(self, name)
        return item

    def names(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[T]:
        return [self.get(name) for name in list(self._items)]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def hint(self, name: str) -> str:
        """'did you mean X? known <what>s: ...' for an unknown name."""
        close = difflib.get_close_matches(str(name), self.names(), n=1)
        return (f"did you mean '{close[0]}'? " if close else "") + f"known {self.what}s: " + ", ".join(self.names())


class _Lazy:
    """A registry entry not imported yet (Registry.register_lazy)."""
    __slots__ = ("target",)

    def __init__(self, target: str):
        self.target = target

    def load(self, reg: Registry, name: str):
        module, _, cls = self.target.partition(":")
        item = getattr(importlib.import_module(module), cls)()
        if getattr(item, reg.key) != name:
            raise ValueError(f"{self.target} has {reg.key} '{getattr(item, reg.key)}', registered as '{name}'")
        return item


def lazy(target: str, key: str | None = None):
    """A function that imports 'package.module:function' on its first call and calls it: for hooks
    and undo handlers whose module only some commands need (registration imports nothing).
    With KEY, the function is `module.attr[KEY]` (an undo table: op -> handler)."""
    module, _, attr = target.partition(":")
    fn = None

    def call(*args, **kwargs):
        nonlocal fn
        if fn is None:
            fn = getattr(importlib.import_module(module), attr)
            fn = fn if key is None else fn[key]
        return fn(*args, **kwargs)

    call.__name__ = call.__qualname__ = attr if key is None else key
    call.target = target
    return call


def resolve_value(value):
    """A value a backend declared as 'package.module:NAME' (a schema it did not want to import at
    start-up): the module's NAME, called if it is a function. Anything else is returned as it is."""
    if isinstance(value, str):
        module, _, attr = value.partition(":")
        value = getattr(importlib.import_module(module), attr)
        value = value() if callable(value) else value
    return value


def node_kinds(raw) -> set:
    """The kinds a raw topology's nodes name (for hooks that only concern some kinds)."""
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    return {n.get("kind") for n in nodes.values() if isinstance(n, dict)} if isinstance(nodes, dict) else set()


class ExpandHook:
    """An expand hook ('package.module:function', fn(raw, src) -> (raw, src, extra)) imported and
    run only on a raw topology for which WHEN(raw) is true (it has the backend's kinds or fields):
    every other topology passes through without the backend's modules being imported."""
    __slots__ = ("when", "fn")

    def __init__(self, target: str, when):
        self.when = when
        self.fn = lazy(target)

    def __call__(self, raw, src):
        return self.fn(raw, src) if self.when(raw) else (raw, src, [])


class CliVerbs:
    """The verbs a backend adds to the command line (VERBS, in help order) and the function that
    adds their parsers ('package.module:add_parsers', imported only when one of them is run or the
    whole command list is shown)."""
    __slots__ = ("verbs", "add")

    def __init__(self, verbs: tuple, target: str):
        self.verbs = tuple(verbs)
        self.add = lazy(target)


class Registries:
    """Everything the backends add, in one object: node kinds (drivers), link types, endpoint types
    (single-ended links), scenario steps,
    undo handlers (journal op -> function), expand hooks (stages run on the raw topology before it
    is resolved), lab-wide resources and CLI verbs. The core finds backends only through here.

    `DEFAULT` is the one the entry points fill (emulator.backends.ensure_loaded); a test may build
    a fresh one with some backends only and make it the active one with `use()`."""

    def __init__(self):
        self.kinds: Registry = Registry("kind", key="kind")
        self.link_types: Registry = Registry("link type")
        self.endpoint_types: Registry = Registry("endpoint type")   # single-ended links (core/endpoints.py)
        self.steps: Registry = Registry("step type", key="type")
        self.lab_resources: Registry = Registry("lab resource")
        self.undo: dict = {}            # journal op -> handler(record)
        self.undo_declared: set = set()  # ops the loaded backends say their actions journal
        self.expand_hooks: list = []    # fn(raw, src) -> (raw, src, extra): before resolve
        self.cli_verbs: list = []       # CliVerbs: the backend's verbs and what adds their parsers
        self.lab_properties: dict = {}  # top-level topology field -> its schema or 'module:NAME' (resolve_value)
        self.inspect_hooks: list = []   # fn(state) -> text for `emulator inspect LAB`, or ""
        self.link_loss_hooks: list = []   # fn(state) -> {"a:if -> b:if": {sent, received, lost}}: live (SRv6)
        self.plan_hooks: list = []      # fn(lab) -> actions added to the plan (eBPF's preflight)
        self.srv6_kinds: dict = {}      # kind -> fn(raw node) -> bool: which nodes are SRv6 routers (srv6, vpp)
        #: kind -> fn(lab, node, policy, segments, router) -> new BSID: how a headend of that kind (other
        #: than srv6-router, whose policies are kernel routes) takes a new segment list at run time (vpp)
        self.srv6_policy_replacers: dict = {}
        self.node_properties: dict = {}  # field -> (schema or 'module:NAME', kinds): fields a backend adds to kinds (vnf:)
        self.loaded: list[str] = []     # backends registered, in order ("" first: the core's own)
        self.cache: dict = {}           # what is derived from them (compiled schema validators)

    def lab_property(self, name: str) -> dict:
        """The schema of the top-level field NAME, imported on first use."""
        value = self.lab_properties[name]
        if isinstance(value, str):
            value = self.lab_properties[name] = resolve_value(value)
        return value

    def node_property(self, name: str) -> tuple[dict, tuple]:
        schema, kinds = self.node_properties[name]
        if isinstance(schema, str):
            schema = resolve_value(schema)
            self.node_properties[name] = (schema, kinds)
        return schema, kinds

    def register_undo(self, op: str, fn) -> None:
        if op in self.undo:
            raise ValueError(f"undo handler for '{op}' registered twice")
        self.undo[op] = fn


DEFAULT = Registries()
_active: list[Registries] = [DEFAULT]


def active() -> Registries:
    """The registries the pipeline looks things up in (DEFAULT unless a test said otherwise)."""
    return _active[-1]


class use:
    """`with registry.use(regs):` makes REGS the active registries inside the block."""

    def __init__(self, regs: Registries):
        self.regs = regs

    def __enter__(self) -> Registries:
        _active.append(self.regs)
        return self.regs

    def __exit__(self, *exc) -> None:
        _active.remove(self.regs)
