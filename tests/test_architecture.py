"""The package's shape: one-way layers, no import cycles, typed public functions, no hidden state.

The import graph is read from the source (imports inside functions count; imports under
``if TYPE_CHECKING:`` do not), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "optviz"

# Bottom to top: a module may import its own layer's modules and those of lower layers.
LAYERS = [
    ["optviz.version", "optviz.errors", "optviz.imports", "optviz.atomic", "optviz.progress"],
    ["optviz.config"],
    ["optviz.problems"],
    ["optviz.torch_source", "optviz.third_party"],
    ["optviz.optimizers"],
    ["optviz.load"],
    ["optviz.results"],
    ["optviz.engine", "optviz.training", "optviz.landscape"],
    ["optviz.store", "optviz.render"],
    ["optviz.pipelines"],
    ["optviz.cli", "optviz.__main__", "optviz"],
]
# Peers and layers a module may not import although the order above would allow it.
FORBIDDEN = {
    "optviz.render": ["optviz.store", "optviz.engine", "optviz.training", "optviz.landscape", "optviz.load.loaded", "optviz.load.__init__",
                      "optviz.pipelines"],
    "optviz.store": ["optviz.render", "optviz.engine", "optviz.training", "optviz.landscape"],
    "optviz.config": ["optviz.imports", "optviz.atomic", "optviz.progress"],  # config imports only errors
}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts)] = path
    return found


def _under_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The optviz modules ``name`` imports, anywhere in its source except under TYPE_CHECKING.

    ``from package import module`` counts as an import of that module; ``from module import
    name`` as an import of the module (a package's ``__init__`` for a package).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name.removesuffix(".__init__") if path.name == "__init__.py" else name.rpartition(".")[0]

    def resolve(target: str) -> str | None:
        return target if target in known else f"{target}.__init__" if f"{target}.__init__" in known else None

    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _under_type_checking(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [resolve(alias.name) for alias in node.names if alias.name.startswith("optviz")]
        else:
            if node.level:
                parts = package.split(".")
                module = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("optviz"):
                continue
            targets = [resolve(f"{module}.{alias.name}") or resolve(module) for alias in node.names]
        found.update(target for target in targets if target is not None and target != name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def layer_of(name: str) -> int:
    best, rank = -1, None
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    assert rank is not None, f"{name} is in no layer: add it to LAYERS"
    return rank


def _in(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def test_no_import_cycle():
    edges = graph()
    # A package's __init__ re-exports its modules; importing a sibling module through the
    # package is still an import of that __init__, so it counts.
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_point_down_the_layers():
    wrong = []
    for name, targets in graph().items():
        for target in targets:
            if name.removesuffix(".__init__") in ("optviz",):
                continue  # the top-level package re-exports lazily, by name
            if layer_of(target) > layer_of(name):
                wrong.append(f"{name} imports {target} from a higher layer")
            for owner, banned in FORBIDDEN.items():
                if _in(name, owner) and any(_in(target, ban) or target == ban for ban in banned):
                    wrong.append(f"{name} imports {target}, which {owner} must not")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_graph_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from optviz.engine import run\n    return run\n")
    assert imports_of("optviz.fake", source, modules()) == {"optviz.engine"}


def test_the_layer_check_fails_on_an_upward_import():
    assert layer_of("optviz.render.path") > layer_of("optviz.results.trajectory")
    assert layer_of("optviz.config.models") < layer_of("optviz.engine")


def _public_functions() -> list[tuple[str, ast.FunctionDef]]:
    found = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                found.append((f"{name}.{node.name}", node))
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                            not item.name.startswith("_") or item.name == "__init__"):
                        found.append((f"{name}.{node.name}.{item.name}", item))
    return found


def test_public_functions_type_their_parameters():
    untyped = []
    for where, node in _public_functions():
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        for position, argument in enumerate(arguments):
            if position == 0 and argument.arg in ("self", "cls"):
                continue
            if argument.annotation is None:
                untyped.append(f"{where}({argument.arg})")
        for star in (node.args.vararg, node.args.kwarg):
            if star is not None and star.annotation is None:
                untyped.append(f"{where}(*{star.arg})")
    assert not untyped, f"{len(untyped)} untyped parameters:\n" + "\n".join(untyped)
