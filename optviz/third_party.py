"""Optimizers from the packages of the ``optviz[optimizers]`` extra, and what a class's step needs.

The packages are found by importing them (an absent one has no classes); their classes are
every ``torch.optim.Optimizer`` subclass a package exports at its top level, less torch's own
re-exported. A config names one as ``package:Class`` or, where exactly one package has it, by
its short name (:func:`candidates`); a package whose source never spells that name is not
imported to learn so (:func:`mentions`: a typo is refused before torch is imported).

What a step needs is read from the class itself (:func:`step_needs`), as its authors document it:

- a closure: ``step``'s signature requires one (torch's LBFGS), or its documentation says it
  raises ``NoClosureError`` or requires a closure (pytorch_optimizer's SAM family);
- ``create_graph=True`` on backward: the class's documentation asks for
  ``loss.backward(create_graph=True)`` (pytorch_optimizer's AdaHessian and SophiaH), or the
  config says ``create_graph: true``;
- train mode: the class has ``train()`` and ``eval()`` methods, which ``torch.optim.Optimizer``
  has not (schedulefree's classes and their kin): ``train()`` before stepping, ``eval()`` to read
  the averaged point a user's model would use.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

# The optviz[optimizers] extra, in the order listings show them.
PACKAGES = ("pytorch_optimizer", "schedulefree", "lion_pytorch", "prodigyopt", "heavyball")

_NEEDS_CLOSURE = re.compile(r"NoClosureError|requires? (?:a )?closure", re.IGNORECASE)
_NEEDS_CREATE_GRAPH = re.compile(r"create_graph\s*=\s*True")


@functools.lru_cache(maxsize=None)
def package_classes(package: str) -> tuple[tuple[str, type], ...]:
    """``(name, class)`` of every optimizer class ``package`` exports; ``()`` when it does not import."""
    import torch

    try:
        module = importlib.import_module(package)
    except Exception:  # not installed, or broken against this torch: it offers nothing
        return ()
    found = []
    for name in sorted(dir(module)):
        value = getattr(module, name, None)
        if (not name.startswith("_") and isinstance(value, type) and issubclass(value, torch.optim.Optimizer)
                and value.__module__.partition(".")[0] != "torch"):
            found.append((name, value))
    return tuple(found)


def candidates(name: str) -> list[tuple[str, type]]:
    """``(package:Class, class)`` of each class called ``name`` (any case) in the installed packages.

    A class two names or packages export is one candidate, under its first import path.
    """
    found: list[tuple[str, type]] = []
    for package in PACKAGES:
        if not mentions(package, name):
            continue
        for attr, cls in package_classes(package):
            if attr.lower() == name.lower() and all(cls is not other for _, other in found):
                found.append((f"{package}:{attr}", cls))
    return found


def mentioned(name: str) -> bool:
    """Whether any package of :data:`PACKAGES` spells ``name`` in its source (:func:`mentions`)."""
    return any(mentions(package, name) for package in PACKAGES)


@functools.lru_cache(maxsize=None)  # mentioned() and candidates() ask alike for one name
def mentions(package: str, name: str) -> bool:
    """Whether a source file of ``package`` has ``name`` as a word, in any case; True where the
    files cannot be read.

    A class the package exports under that name is written there (defined, imported or assigned
    by name), so where no file has it, importing the package (seconds, for some) would find
    nothing. An absent package mentions nothing.
    """
    try:
        spec = importlib.util.find_spec(package)  # finds a top-level package without importing it
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    places = list(spec.submodule_search_locations or [])
    files = [file for place in places for file in Path(place).rglob("*.py")] if places else [Path(spec.origin or "")]
    word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", re.IGNORECASE)
    try:
        return any(word.search(file.read_text(encoding="utf-8", errors="replace")) for file in files)
    except OSError:
        return True


def package_of(cls: type) -> str | None:
    """The package of :data:`PACKAGES` that ``cls`` comes from; None for any other class."""
    top = cls.__module__.partition(".")[0]
    return top if top in PACKAGES else None


@dataclass(frozen=True)
class StepNeeds:
    """What a class's ``step`` needs beyond ``zero_grad(); loss.backward(); step()``."""

    closure: bool = False  # step(closure), the closure re-evaluating f and its gradient
    create_graph: bool = False  # loss.backward(create_graph=True): the step differentiates the gradient
    train_mode: bool = False  # optimizer.train() before stepping; optimizer.eval() gives the evaluation point

    def describe(self) -> list[str]:
        """The needs in words, for listings: ``["closure", "create_graph"]``."""
        return [word for word, needed in (("closure", self.closure), ("create_graph", self.create_graph),
                                          ("train()/eval()", self.train_mode)) if needed]


@functools.lru_cache(maxsize=None)  # read from the class: the same for every start and chunk of a run
def step_needs(cls: type, create_graph: bool | None = None) -> StepNeeds:
    """What ``cls``'s step needs, read from the class (see the module's docstring); ``create_graph``
    (a config's ``create_graph: true``/``false``) overrides what the class says."""
    documented = " ".join(filter(None, (cls.__doc__, getattr(cls.step, "__doc__", None))))
    closure = cls.__name__ == "LBFGS" or _step_requires_closure(cls) or bool(_NEEDS_CLOSURE.search(documented))
    hessian = bool(_NEEDS_CREATE_GRAPH.search(documented)) if create_graph is None else create_graph
    train_mode = callable(getattr(cls, "train", None)) and callable(getattr(cls, "eval", None))
    return StepNeeds(closure=closure, create_graph=hessian, train_mode=train_mode)


def _step_requires_closure(cls: type) -> bool:
    parameter = inspect.signature(cls.step).parameters.get("closure")
    return parameter is not None and parameter.default is inspect.Parameter.empty


# What a failed step's message says about its cause, and what the config or engine must add.
_FAILURE_HINTS = (
    (re.compile(r"closure", re.IGNORECASE), "needs a closure"),
    (re.compile(r"create_graph|does not require grad|does not have a grad_fn", re.IGNORECASE),
     "needs create_graph (add create_graph: true)"),
    (re.compile(r"train mode|train\(\)|eval mode", re.IGNORECASE), "call train()"),
)


def failure_hint(message: str) -> str | None:
    """What a step that raised ``message`` needs, where the cause is known: "needs a closure",
    "needs create_graph ..." or "call train()"; None otherwise."""
    for pattern, hint in _FAILURE_HINTS:
        if pattern.search(message):
            return hint
    return None


def third_party_catalog() -> list[dict]:
    """Every optimizer class of the installed packages: name, package, import path, what its step
    needs and the class itself (``cls``)."""
    entries = []
    for package in PACKAGES:
        for name, cls in package_classes(package):
            entries.append({"name": name, "package": package, "import_path": f"{package}:{name}",
                            "needs": step_needs(cls).describe(), "cls": cls})
    return entries
