"""Reading YAML: a safe loader with optviz's float rule and duplicate-key check; syntax errors in words."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, quote


# What a config may be, so that a small or strange file cannot make optviz read, build or
# print something huge (README, "Errors and safety").
MAX_FILE_BYTES = 1_048_576  # 1 MiB: a long config is a few kilobytes
MAX_DEPTH = 50  # levels of lists and mappings; a config uses about six
MAX_ALIAS_NODES = 10_000  # values that aliases may add, counted as if written out
MAX_NUMBER_CHARS = 400  # a float's range ends near 1.8e308, 309 digits


class _LimitError(yaml.MarkedYAMLError):
    """A document beyond one of the limits above: well-formed YAML, so not a syntax error."""

    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``), refuses
    duplicate keys, which plain YAML resolves silently by keeping the last one, and keeps
    nesting, aliases and number literals within the limits above."""

    def compose_node(self, parent, index):
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitError(f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        _check_expansion(node)
        return node

    def construct_yaml_int(self, node):
        if len(node.value) > MAX_NUMBER_CHARS:
            raise _LimitError(
                f"a number of {len(node.value)} characters is beyond any number optviz can use",
                node.start_mark)
        return super().construct_yaml_int(node)

    def construct_mapping(self, node, deep=False):
        first_seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                earlier = first_seen.get(key)
            except TypeError:  # an unhashable key: the base class says so in its own words
                continue
            if earlier is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {quote(key)} (also on line {earlier + 1})", key_node.start_mark)
            first_seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _check_expansion(root: yaml.Node | None) -> None:
    """Refuse an alias that refers to its own collection, and aliases that, written out, would add more
    than :data:`MAX_ALIAS_NODES` values or nest deeper than :data:`MAX_DEPTH`."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values when written out, depth)
    open_nodes: set[int] = set()

    def measure(node: yaml.Node) -> tuple[int, int]:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise _LimitError("an alias refers to the list or mapping that holds it",
                                              node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            return 1, 0
        open_nodes.add(id(node))
        children = [child for pair in node.value for child in pair] if isinstance(node, yaml.MappingNode) \
            else node.value
        count, depth = 1, 0
        for child in children:
            child_count, child_depth = measure(child)
            count, depth = count + child_count, max(depth, child_depth + 1)
        open_nodes.discard(id(node))
        if depth > MAX_DEPTH:
            raise _LimitError(f"aliases nest values more than {MAX_DEPTH} levels deep",
                                              node.start_mark)
        if count > written + MAX_ALIAS_NODES:
            raise _LimitError(
                f"aliases expand this value to more than {MAX_ALIAS_NODES:,} values; write it out "
                            "or use fewer aliases", node.start_mark)
        sizes[id(node)] = count, depth
        return count, depth

    written = _count_written(root)
    if root is not None:
        measure(root)


def _count_written(root: yaml.Node | None) -> int:
    """How many distinct nodes the document holds: what it costs without expanding its aliases."""
    seen: set[int] = set()
    pending = [root] if root is not None else []
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            pending.extend(child for pair in node.value for child in pair)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
    return len(seen)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def parse_yaml(text: str, *, source: str = "") -> Any:
    """``yaml.safe_load`` with our float rule; syntax errors name line and column."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except _LimitError as error:
        mark = error.problem_mark
        raise ConfigError(f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}", source=source) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        hint = _yaml_hint(error)
        raise ConfigError(f"YAML syntax error at {where}: {error.problem}{f'; {hint}' if hint else ''}",
                          source=source) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"YAML error: {error}", source=source) from None


# PyYAML's words for the usual slips, and what to do about them.
_YAML_HINTS = (
    ("found character '\\t'", "indent with spaces; YAML does not allow tabs"),
    ("<block end>", "check the indentation of this line against the lines above"),
    ("mapping values are not allowed here", "put a value containing ': ' in quotes, or start a new line"),
    ("could not find expected ':'", "a key needs ': ' after it"),
    ("expected ',' or ']'", "a [list] is not closed"),
    ("expected ',' or '}'", "a {mapping} is not closed"),
)


def _yaml_hint(error: yaml.MarkedYAMLError) -> str:
    if "quoted scalar" in (error.context or ""):
        return "a quoted string is not closed"
    return next((hint for words, hint in _YAML_HINTS if words in (error.problem or "")), "")



def read_text(path: str | Path) -> str:
    """The text of a config file; a missing, unreadable, odd (not a regular file) or too large
    file (over :data:`MAX_FILE_BYTES`) is a :class:`ConfigError` naming it."""
    source = str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ConfigError("no such file", source=source) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", source=source) from None
    except OSError as error:
        raise ConfigError(f"cannot read: {error.strerror or error}", source=source) from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise ConfigError("is a directory, not a config file" if stat.S_ISDIR(mode) else
                          "is not a regular file (a device, pipe or socket); give a YAML file", source=source)
    with os.fdopen(descriptor, "rb") as handle:
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise ConfigError(f"cannot read: {error.strerror or error}", source=source) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"is larger than {MAX_FILE_BYTES // 1_048_576} MiB; a config is a few kilobytes",
                          source=source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"cannot read: {error}", source=source) from None
