"""What a config can name: functions, optimizers and schedulers, as data or as a table."""

from __future__ import annotations

from typing import Any


def catalog(what: str, *, third_party: bool = False) -> list[dict[str, Any]]:
    """JSON-ready entries for ``functions``, ``optimizers`` or ``schedulers``; with ``third_party``, the
    optimizers include every class of the installed packages of the ``optviz[optimizers]`` extra."""
    if what == "functions":
        from ..problems import function_names, get_function

        return [get_function(name).to_dict() for name in function_names()]
    from ..optimizers import optimizer_catalog, scheduler_catalog

    return optimizer_catalog(third_party=third_party) if what == "optimizers" else scheduler_catalog()


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
        width = max(10, *(len(entry.get("import_path", entry["name"])) for entry in entries))
        for entry in entries:
            defaults = ", ".join(f"{key}={value}" for key, value in entry["hyperparameters"].items())
            needs = f"[needs {', '.join(entry['needs'])}] " if entry.get("needs") else ""
            lines.append(f"{entry.get('import_path', entry['name']):<{width}} {needs}{defaults}")
    else:
        for entry in entries:
            arguments = ", ".join(
                key if key in entry["required"] else f"{key}={value}" for key, value in entry["arguments"].items())
            lines.append(f"{entry['name']:<28} {arguments}")
    return "\n".join(lines)
