"""One small registry type for every "kind of thing" the project looks up by name:
node drivers, link types, scenario steps, VNF roles, NSM forwarder types."""
from __future__ import annotations

import difflib
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

    def get(self, name: str) -> T:
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[T]:
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def hint(self, name: str) -> str:
        """'did you mean X? known <what>s: ...' for an unknown name."""
        close = difflib.get_close_matches(str(name), self.names(), n=1)
        return (f"did you mean '{close[0]}'? " if close else "") + f"known {self.what}s: " + ", ".join(self.names())
