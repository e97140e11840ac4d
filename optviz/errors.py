"""The exceptions optviz raises on purpose; anything else reaching the CLI is a bug."""

from __future__ import annotations

import math


class OptvizError(Exception):
    """Base class: a failure optviz expects and can explain in one line."""


class ConfigError(OptvizError, ValueError):
    """A config (file, dict, --set override or expression) that cannot be used.

    The message is the whole explanation, already prefixed with the file and the
    YAML key path where they are known:
    ``configs/x.yaml: optimizers[1].lr: must be > 0, got -0.1``.
    """

    def __init__(self, message: str, *, path: str = "", source: str = "") -> None:
        self.message = message
        self.path = path
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [part for part in (self.source, self.path) if part]
        return ": ".join([*parts, self.message])

    def with_context(self, *, source: str | None = None, path_prefix: str = "") -> "ConfigError":
        """Return a copy with the file name and/or a key-path prefix filled in."""
        path = self.path
        if path_prefix:
            path = f"{path_prefix}{'.' if path and not path.startswith('[') else ''}{path}"
        return ConfigError(self.message, path=path, source=source if source is not None else self.source)


class RunError(OptvizError):
    """A run that could not be carried out (output directory unwritable, missing files)."""


class OptvizWarning(UserWarning):
    """Something done other than asked, and why (fewer frames than requested); the CLI prints
    each as one ``Warning: ...`` line on stderr."""


QUOTE_LIMIT = 200  # characters of a value an error message quotes


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for an error message, cut to about ``limit`` characters so that one line stays one line.

    >>> quote("x" * 1000)[-30:]
    'xxxxxxxxx... (1002 characters)'
    >>> quote(0.1)
    '0.1'
    """
    if isinstance(value, int) and value.bit_length() > 3 * limit:  # repr would be slow, or refuse
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text)} characters)"
