"""Reading YAML: a safe loader with optviz's float rule and duplicate-key check; syntax errors in words."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``) and refuses
    duplicate keys, which plain YAML resolves silently by keeping the last one."""

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
                    None, None, f"duplicate key {key!r} (also on line {earlier + 1})", key_node.start_mark)
            first_seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


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
    """The text of a config file; a missing or unreadable file is a :class:`ConfigError` naming it."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", source=source) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read: {error}", source=source) from None
