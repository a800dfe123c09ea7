"""The modules of ``tracker/`` import one another one way only: no circle, counting the imports
made inside functions too (a lazy import still ties the two modules together)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tracker"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every import statement, at any depth, except those only for type checkers."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def imported_modules(path: Path, modules: set[str], package_dir: Path = PACKAGE) -> set[str]:
    """The modules of ``modules`` that ``path`` imports (``from .x import y`` names module
    ``x.y`` when that is a module, else ``x``)."""
    name = module_name(path, package_dir)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name in modules}
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            if sub in modules:
                out.add(sub)
            elif target in modules:
                out.add(target)
    out.discard(name)
    return out


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    paths = sorted(package.rglob("*.py"))
    modules = {module_name(p, package) for p in paths}
    return {module_name(p, package): imported_modules(p, modules, package) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (depth-first search), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_finds_a_circle_through_a_lazy_import(tmp_path):
    pkg = tmp_path / "tracker"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from . import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n")
    graph = import_graph(pkg)
    assert graph["tracker.c"] == set()  # for type checkers only: never imported at run time
    assert find_cycle(graph) == ["tracker.a", "tracker.b", "tracker.a"]


def test_no_import_circle_in_the_tracker_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


# The one-way stack, lowest first (STYLE.md): a module may import its own layer and those below.
LAYERS = (
    ("tracker.structures", "tracker.config", "tracker.config_base", "tracker.config_tracker",
     "tracker.formats", "tracker.threads", "tracker.onnx_cpu"),
    ("tracker.source", "tracker.detect", "tracker.motion", "tracker.camera", "tracker.associate",
     "tracker.lifecycle", "tracker.tracks", "tracker.render", "tracker.sink", "tracker.output_paths",
     "tracker.postprocess"),
    ("tracker.stages", "tracker.outputs", "tracker.pipeline", "tracker.multi"),
    ("tracker.batch", "tracker.eval", "tracker.training"),
    ("tracker.commands", "tracker.cli"),
)  # fmt: skip


def layer_of(module: str) -> int:
    for level, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return level
    raise AssertionError(f"{module} has no layer: add it to LAYERS")


def test_imports_go_down_the_stack_only():
    graph = import_graph()
    upward = [
        f"{a} -> {b}"
        for a, deps in sorted(graph.items())
        if a != "tracker"  # the package's public re-exports sit on top of everything
        for b in sorted(deps)
        if layer_of(b) > layer_of(a)
    ]
    assert not upward, "imports up the stack: " + ", ".join(upward)
