"""Regenerate the README's pictures in docs/ from the example configs: ``make gallery``.

Each entry runs one config (with a few overrides) through ``optviz.run_to_dir``
(or, where the entry says so, ``optviz.sweep_to_dir`` or ``optviz.tune_to_dir``)
and copies the files it names into docs/ under their gallery names. The GIF is
drawn smaller and with fewer frames than the config asks, so the repository
stays light (under 1 MB).

    python docs/gallery.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import optviz

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# (config, --set overrides, {file in the run directory: name in docs/}[, "sweep" or "tune"])
GALLERY = [
    ("configs/peaks.yaml", ["render.figures=[path, surface]", "render.animation.enabled=false"],
     {"path.png": "peaks-path.png", "surface.png": "peaks-surface.png"}),
    ("configs/peaks.yaml", ["render.figures=[]", "render.size=[6.4, 4.8]", "render.dpi=90"],
     {"animation.gif": "peaks-race.gif"}),
    ("configs/peaks.yaml", ["render.figures=[path, internals]", "render.internals={every: 10}",
                            "render.animation.enabled=false", "render.dpi=80"],
     {"internals.png": "peaks-internals.png", "path.png": "peaks-internals-path.png"}),
    ("configs/himmelblau.yaml", ["render.figures=[diagnostics]"],
     {"diagnostics.png": "himmelblau-diagnostics.png"}),
    ("configs/rosenbrock.yaml", ["render.figures=[surface]"], {"surface.png": "rosenbrock-surface.png"}),
    ("configs/peaks1d.yaml", ["render.figures=[path]"], {"path.png": "peaks1d-path.png"}),
    ("configs/himmelblau_basin.yaml", ["render.figures=[basin]", "render.dpi=80"],
     {"basin.png": "himmelblau-basin.png"}),
    ("configs/peaks_starts.yaml", ["render.figures=[path]", "render.dpi=70"], {"path.png": "peaks-starts-path.png"}),
    ("configs/quadratic_lr.yaml", ["render.dpi=80"], {"sweep-loss.png": "quadratic-lr-sweep.png"}, "sweep"),
    ("configs/sgd_grid.yaml", ["render.dpi=80"], {"sweep-heatmap.png": "sgd-grid-heatmap.png"}, "sweep"),
    ("configs/peaks.yaml", ["render.figures=[path]", "render.animation.enabled=false", "render.dpi=80"],
     {"tune.png": "peaks-tune.png", "path.png": "peaks-tuned-path.png"}, "tune"),
    ("configs/digits_lenet.yaml", ["render.dpi=80"], {"curves.png": "digits-lenet-curves.png"}),
    ("configs/moons_landscape.yaml", ["render.dpi=80"], {"landscape.png": "moons-landscape.png"}),
    ("configs/noisy_peaks.yaml", ["render.figures=[path, loss]", "render.dpi=70"],
     {"path.png": "noisy-peaks-path.png", "loss.png": "noisy-peaks-loss.png"}),
    ("configs/ill_conditioned.yaml", ["render.figures=[loss]", "render.dpi=80"],
     {"loss.png": "ill-conditioned-theory.png"}),
    ("", [], {"ewma.png": "momentum-ewma.png"}, "explain"),
]
RUNNERS = {"run": "run_to_dir", "sweep": "sweep_to_dir", "tune": "tune_to_dir"}


def _explain(config, scratch: str) -> None:
    """``optviz explain momentum``'s figure, which needs no config."""
    from optviz.pipelines.explain import explain_momentum

    explain_momentum(Path(scratch) / "ewma.png", dpi=80)


def build(entries=GALLERY, docs: Path = DOCS) -> list[Path]:
    """Run each entry and copy its pictures into ``docs``; returns the paths written."""
    written = []
    for config_path, overrides, pictures, *kind in entries:
        runner = _explain if kind == ["explain"] else getattr(optviz, RUNNERS[kind[0] if kind else "run"])
        config = optviz.load_config(ROOT / config_path, overrides) if config_path else None
        with tempfile.TemporaryDirectory() as scratch:
            runner(config, scratch)
            for source, name in pictures.items():
                target = docs / name
                shutil.copyfile(Path(scratch) / source, target)
                written.append(target)
                print(f"{target.relative_to(ROOT)}  {target.stat().st_size / 1024:.0f} KiB")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only the entries writing these docs/ names")
    args = parser.parse_args(argv)
    entries = GALLERY
    if args.only:
        entries = [entry for entry in GALLERY if set(entry[2].values()) & set(args.only)]
        if not entries:
            parser.error(f"no gallery entry writes {', '.join(args.only)}")
    build(entries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
