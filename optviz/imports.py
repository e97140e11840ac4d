"""Python objects by import path: ``package.module:Attr`` or ``path/to/file.py:Attr``; and objects
given as themselves (a notebook's class or function), which a written config can only name.

The one place optviz runs a user's code on purpose (user functions, optimizers and,
later, models). A file is executed once per process for as long as it is unchanged:
modules are cached on the resolved path and its modification time, so a sweep of
many cells, or a run that checks and then runs its config, imports it once.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import ConfigError, quote


def closest(name: str, candidates: list[str]) -> str:
    """``did you mean A, B?`` for the names closest to ``name`` (any case), else every candidate."""
    lowered = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)
    if close:
        return "did you mean " + ", ".join(lowered[match] for match in close) + "?"
    return "valid: " + ", ".join(candidates)


def is_import_path(name: str) -> bool:
    """True for ``package.module:Class`` or ``path/to/file.py:Class`` (not for a notebook object's marker)."""
    return isinstance(name, str) and ":" in name and notebook_name(name) is None


# --- objects given as themselves --------------------------------------------------------

_MARKER = "<defined in a notebook: "


def object_source_digest(value: Any) -> str | None:
    """sha256 of the object's module, qualified name and source (:func:`inspect.getsource`); None
    where Python keeps no source for it (a builtin, a class typed at a bare ``python`` prompt)."""
    target = value if isinstance(value, type) or inspect.isfunction(value) or inspect.ismethod(value) else type(value)
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        return None
    name = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
    return hashlib.sha256(f"{name}\n{source}".encode()).hexdigest()


def notebook_marker(value: Any, name: str) -> str:
    """What ``config.yaml`` writes for an object named ``name`` that only this process holds:
    ``<defined in a notebook: MyOptimizer, source sha256 3f2a9c01d2e4>``. The digest of its source
    is part of the text, so the config hash and a sweep cell's key change when the code does."""
    digest = object_source_digest(value)
    return f"{_MARKER}{name}, {f'source sha256 {digest[:12]}' if digest else 'no source'}>"


def notebook_name(text: str) -> str | None:
    """The object's name in a marker written by :func:`notebook_marker`; None for any other text."""
    if not (isinstance(text, str) and text.startswith(_MARKER) and text.endswith(">")):
        return None
    return text[len(_MARKER):-1].rsplit(", ", 1)[0]


def check_replayable(text: Any) -> None:
    """Refuse a marker of :func:`notebook_marker` where a config read from YAML names a class or function."""
    name = notebook_name(text)
    if name is not None:
        raise ConfigError(f"{name} was defined in a notebook, which a YAML file cannot replay; run this config "
                          f"from Python, passing {name} itself")


def importable_path(value: Any) -> str | None:
    """``package.module:Name`` for an object that module gives back by that name (so a written config
    can import it again); None for one defined in a notebook or script (``__main__``) or inside a function."""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(qualname, str)) or "<" in qualname:
        return None
    if module == "__main__" or module.startswith("optviz_user_") or module not in sys.modules:
        return None
    found: Any = sys.modules[module]
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return f"{module}:{qualname}" if found is value else None


def load_import_path(spec: str, *, base_dir: Path | None = None) -> Any:
    """Import the object named by ``package.module:Attr`` or ``path/to/file.py:Attr``.

    A file path is resolved against the current directory, then ``base_dir`` (the
    config file's folder). This runs the user's code, by design.
    """
    module_part, _, attr = spec.rpartition(":")
    if not module_part or not attr:
        raise ConfigError(f"bad import path {quote(spec)}; expected 'package.module:Class' or 'path/to/file.py:Class'")
    try:
        if _is_file_path(module_part):
            file = _find_file(module_part, base_dir)
            if file is None:
                where = "" if Path(module_part).is_absolute() else (
                    " in the current directory or the config's folder" if base_dir is not None else " in the current directory")
                raise ConfigError(f"cannot import {quote(spec)}: no file {quote(module_part)}{where}")
            resolved = file.resolve()
            stat = resolved.stat()
            module = _execute_file(str(resolved), stat.st_mtime_ns, stat.st_size)
        else:
            module = importlib.import_module(module_part)
    except ConfigError:
        raise
    except ModuleNotFoundError as error:
        raise ConfigError(f"cannot import {quote(spec)}: no module named {quote(error.name)}") from None
    except Exception as error:  # the user's module raised while loading
        raise ConfigError(f"cannot import {quote(spec)}: {type(error).__name__}: {error}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        public = [name for name in dir(module) if not name.startswith("_")]
        raise ConfigError(f"cannot import {quote(spec)}: module has no attribute {quote(attr)}; {closest(attr, public)}") from None


def _is_file_path(module_part: str) -> bool:
    return module_part.endswith(".py") or "/" in module_part


def _find_file(module_part: str, base_dir: Path | None) -> Path | None:
    """The file of ``path/to/file.py``: relative to the current directory, else to ``base_dir``."""
    candidates = [Path(module_part)]
    if base_dir is not None and not Path(module_part).is_absolute():
        candidates.append(base_dir / module_part)
    return next((path for path in candidates if path.is_file()), None)


def absolute_import_path(spec: str, *, base_dir: Path | None = None) -> str:
    """``path/to/file.py:Attr`` with the file's absolute path, so a run directory's config
    finds it from anywhere; module paths and files that do not exist are returned as given."""
    module_part, _, attr = spec.rpartition(":")
    if not _is_file_path(module_part):
        return spec
    file = _find_file(module_part, base_dir)
    return f"{file.resolve()}:{attr}" if file is not None else spec




@functools.lru_cache(maxsize=64)
def _execute_file(path: str, mtime_ns: int, size: int) -> ModuleType:
    """Run the file at ``path`` as a module, once per (path, modification time, size).

    A file that raises is not cached: the next load runs it again and reports again.
    """
    module_name = f"optviz_user_{abs(hash((path, mtime_ns)))}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module
