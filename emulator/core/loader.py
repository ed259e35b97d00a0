"""Stage 1: read YAML into plain Python data, remembering where every value came from.

The result is a `Source`: the data (dicts, lists, str, int, float, bool, None)
and, for every path such as ('nodes', 'fw', 'ip', 0), the line and column of
its value and of its key. Later stages report errors by path; the source
turns a path into `file:line:column`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import Issue, TopologyError, quote

if TYPE_CHECKING:
    import yaml   # imported where a document is parsed (load_text)

MAX_NODES = 2_000_000    # values in a document, aliases expanded (a backstop: see MAX_EXPANDED)
MAX_EXPANDED = 100_000   # values that aliases may add by repetition ("billion laughs" alias bombs)
MAX_DEPTH = 200


@dataclass
class Source:
    data: object
    file: str = "<topology>"
    values: dict = field(default_factory=dict)  # path -> (line, col) of the value
    keys: dict = field(default_factory=dict)    # path -> (line, col) of the mapping key

    def where(self, path: tuple, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column for `path`, or for its nearest located ancestor."""
        p = tuple(path)
        while True:
            table = self.keys if key and p in self.keys else self.values
            if p in table:
                return table[p]
            if not p:
                return None, None
            p = p[:-1]

    def with_name(self, name: str) -> "Source":
        """The same document under another lab name (`--name`); every location stays as it was."""
        if not isinstance(self.data, dict):
            return self
        return Source({**self.data, "name": name}, self.file, self.values, self.keys)

    def issue(self, path: tuple, message: str, hint: str | None = None, key: bool = False) -> Issue:
        line, col = self.where(path, key=key)
        return Issue(tuple(path), message, hint, self.file, line, col)


_SCALARS = {
    "tag:yaml.org,2002:null": "construct_yaml_null",
    "tag:yaml.org,2002:bool": "construct_yaml_bool",
    "tag:yaml.org,2002:int": "construct_yaml_int",
    "tag:yaml.org,2002:float": "construct_yaml_float",
    "tag:yaml.org,2002:str": "construct_scalar",
}


def _line_col(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _yaml_message(e: yaml.MarkedYAMLError) -> str:
    """PyYAML's context and problem as one sentence, with where the unclosed construct began."""
    problem, context, cm = e.problem or "malformed YAML", e.context, e.context_mark
    if not context:
        return problem
    if context.startswith("while ") and cm is not None and cm is not e.problem_mark:
        return f"{problem} ({context} that starts at line {cm.line + 1}, column {cm.column + 1})"
    return f"{context}, {problem}"


def _yaml_hint(e: yaml.MarkedYAMLError) -> str | None:
    text = f"{e.context} {e.problem}"
    if "'\\t'" in text:
        return "indent with spaces: YAML does not allow tabs"
    if "flow sequence" in text:
        return "a '[' is not closed by ']', or its items are not separated by commas"
    if "flow mapping" in text:
        return "a '{' is not closed by '}', or its entries are not separated by commas"
    if "another document" in text:
        return "a topology is one YAML document: remove the '---' line"
    if "mapping values are not allowed" in text:
        return "check the indentation, and quote values that contain ': '"
    return None


class Expansion:
    """What a composed document costs once its aliases are expanded, measured without expanding.

    PyYAML's composer makes an alias the very node object of its anchor, so the document is a
    graph of `distinct` nodes; `size()` counts the values of a node's expansion (capped at
    MAX_NODES + 1), once per distinct node. A 1 KB alias bomb is `distinct` ~ 100, not 10^9."""

    def __init__(self, root):
        self.root = root
        self.cap = MAX_NODES + 1
        self.sizes: dict[int, int] = {}
        self.recursive = None   # (path, node) of an alias inside the value it names
        self._active: set[int] = set()

    @property
    def distinct(self) -> int:
        return len(self.sizes)

    def size(self, node, depth: int = 0) -> int:
        import yaml
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self._active:   # `&a [*a]`: infinite
            self.recursive = node
            return self.cap
        n = 1
        if depth <= MAX_DEPTH and isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            self._active.add(key)
            for child in _children(node):
                n += self.size(child, depth + 1)
                if n >= self.cap:
                    n = self.cap
                    break
            self._active.discard(key)
        self.sizes[key] = n
        return n

    def culprit(self) -> tuple[tuple, object]:
        """The first value, in document order, that is too large while none of its parts is."""
        path, node, seen = (), self.root, set()
        while id(node) not in seen:
            seen.add(id(node))
            for step, child in _labelled_children(node):
                if self.size(child) > MAX_EXPANDED:
                    path, node = path + (step,), child
                    break
            else:
                break
        return path, node


def _children(node):
    import yaml
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield k
            yield v
    else:
        yield from node.value


def _labelled_children(node):
    import yaml
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield (k.value if isinstance(k, yaml.ScalarNode) else "?"), v
    elif isinstance(node, yaml.SequenceNode):
        yield from enumerate(node.value)


def _check_expansion(root, file: str) -> Expansion:
    """Refuse a document whose aliases expand past MAX_EXPANDED values, before building any of it."""
    ex = Expansion(root)
    total = ex.size(root)
    if total > ex.distinct + MAX_EXPANDED or total > MAX_NODES:
        path, node = ex.culprit()
        m = node.start_mark
        if ex.recursive is not None:
            message, hint = ("an alias inside the value it names (through its anchor here) repeats it endlessly",
                             "an alias may only name a value that is complete before it")
        else:
            message, hint = (f"YAML aliases expand this value to more than {MAX_EXPANDED} values "
                             f"(an alias bomb?)", "write the values out, or repeat fewer of them through aliases")
        raise TopologyError([Issue(path, message, hint, file, m.line + 1, m.column + 1)])
    return ex


def read_text(path: str, what: str = "topology") -> str:
    """The UTF-8 text of a file the user named; TopologyError (in WHAT) where it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise TopologyError([Issue((), "file not found", "check the path", path)], what) from None
    except (OSError, UnicodeDecodeError) as e:
        raise TopologyError([Issue((), f"cannot read: {e}", None, path)], what) from None


def load_file(path: str) -> Source:
    return load_text(read_text(path), path)


def load_named(path: str, name: str | None) -> Source:
    """A topology file, under the lab name `name` when one is given (the CLI's `--name`)."""
    from ..names import check_lab   # an invalid --name is a UsageError (exit 2), not the file's fault
    src = load_file(path)
    return src if name is None else src.with_name(check_lab(name))


def load_text(text: str, file: str = "<topology>") -> Source:
    """Parse YAML text; raise TopologyError (with line/column) for anything malformed."""
    import yaml   # here: commands that read no YAML (deploy --topo, exec, destroy) do not import it
    try:
        loader = yaml.SafeLoader(text)  # the reader checks the characters already here
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as e:
        line, col = _line_col(text, e.position)
        raise TopologyError([Issue((), f"the file contains the character U+{e.character:04X}, which YAML "
                                       f"does not allow", "remove it: YAML allows only printable characters, tab and line breaks",
                                   file, line, col)]) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise TopologyError([Issue((), f"YAML syntax error: {_yaml_message(e)}", _yaml_hint(e),
                                   file, line, col)]) from None
    except yaml.YAMLError as e:
        raise TopologyError([Issue((), f"YAML error: {e}", None, file)]) from None
    except (ValueError, RecursionError) as e:  # e.g. NUL bytes, absurd nesting
        raise TopologyError([Issue((), f"unreadable YAML: {e}", None, file)]) from None
    if root is None:
        raise TopologyError([Issue((), "the file is empty", "a topology needs at least `name:` and `nodes:`",
                                   file, 1, 1)])
    _check_expansion(root, file)   # before a single value is built
    src = Source(None, file)
    issues: list[Issue] = []
    ctor = yaml.constructor.SafeConstructor()
    budget = [MAX_NODES]

    def convert(node, path: tuple, depth: int):
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            raise TopologyError([Issue(path, "document too large or too deeply nested (YAML aliases?)",
                                       None, file, node.start_mark.line + 1, node.start_mark.column + 1)])
        src.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out = {}
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode) or knode.tag == "tag:yaml.org,2002:merge":
                    issues.append(Issue(path, "keys must be plain names", None, file,
                                        knode.start_mark.line + 1, knode.start_mark.column + 1))
                    continue
                key = knode.value
                kpath = path + (key,)
                if key in out:
                    issues.append(Issue(kpath, f"duplicate key {quote(key)}",
                                        "each name may appear once in a mapping", file,
                                        knode.start_mark.line + 1, knode.start_mark.column + 1))
                    continue
                src.keys[kpath] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
                out[key] = convert(vnode, kpath, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [convert(v, path + (i,), depth + 1) for i, v in enumerate(node.value)]
        method = _SCALARS.get(node.tag)
        if method is None:
            if node.tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"):  # keep the text
                return node.value
            issues.append(Issue(path, f"unsupported YAML tag {quote(node.tag)}", "remove the tag", file,
                                node.start_mark.line + 1, node.start_mark.column + 1))
            return None
        try:
            return getattr(ctor, method)(node)
        except (ValueError, OverflowError, KeyError, yaml.YAMLError):
            # only an explicit tag can fail here (`!!bool maybe`): the resolver tags plain
            # scalars by what they look like
            what = node.tag.rsplit(":", 1)[-1]
            issues.append(Issue(path, f"{quote(node.value)} is not a valid {what} (it is tagged !!{what})",
                                f"remove the tag !!{what}, or give a value of that type", file,
                                node.start_mark.line + 1, node.start_mark.column + 1))
            return None

    src.data = convert(root, (), 0)
    if issues:
        raise TopologyError(issues)
    return src
