"""What a config can name: functions, optimizers and schedulers, as data or as a table."""

from __future__ import annotations

from typing import Any


def catalog(what: str) -> list[dict[str, Any]]:
    """JSON-ready entries for ``functions``, ``optimizers`` or ``schedulers``."""
    if what == "functions":
        from ..problems import function_names, get_function

        return [get_function(name).to_dict() for name in function_names()]
    from ..optimizers import optimizer_catalog, scheduler_catalog

    return optimizer_catalog() if what == "optimizers" else scheduler_catalog()


def format_catalog(what: str, entries: list[dict[str, Any]]) -> str:
    """A plain-text table of ``entries`` for the terminal."""
    lines = []
    if what == "functions":
        for entry in entries:
            domain = " x ".join(f"[{low:g}, {high:g}]" for low, high in entry["domain"])
            minima = "; ".join(
                f"({', '.join(f'{coordinate:.4g}' for coordinate in minimum['point'])}) = {minimum['value']:.4g}"
                for minimum in entry["minima"] if minimum["kind"] == "global") or "none (unbounded)"
            lines.append(f"{entry['name']:<18} {entry['dim']}D  {domain:<28} min {minima}")
            lines.append(f"{'':<22}{entry['formula']}")
    elif what == "optimizers":
        for entry in entries:
            defaults = ", ".join(f"{key}={value}" for key, value in entry["hyperparameters"].items())
            lines.append(f"{entry['name']:<10} {defaults}")
    else:
        for entry in entries:
            arguments = ", ".join(
                key if key in entry["required"] else f"{key}={value}" for key, value in entry["arguments"].items())
            lines.append(f"{entry['name']:<28} {arguments}")
    return "\n".join(lines)
