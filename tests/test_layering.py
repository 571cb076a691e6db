"""The shape of finehub's import graph, read from the source with ``ast``.

- No import cycles among finehub modules at import time (module-level imports, ``TYPE_CHECKING``
  blocks left out, the packages a submodule import runs counted in).
- Every import, including those inside functions and ``TYPE_CHECKING`` blocks, points down the
  layers, lowest first: errors/_version/_utils (and the lazy root package), hub, nn, imaging,
  modules, data, finetune, autotune, serving, bench, cli. Autotune never imports finetune;
  serving imports only hub and the base layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import finehub

PACKAGE = Path(finehub.__file__).parent

# lowest first; "" is the root package, whose names load lazily (it imports only _version)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("", "errors", "_version", "_utils"),
    ("hub",),
    ("nn",),
    ("imaging",),
    ("modules",),
    ("data",),
    ("finetune",),
    ("autotune",),
    ("serving",),
    ("bench",),
    ("cli", "__main__", "demo"),
)
RANK = {top: rank for rank, tops in enumerate(LAYERS) for top in tops}
FORBIDDEN = {"autotune": {"finetune"}}  # autotune runs user code and scripts, never the Trainer
ONLY = {"serving": {*LAYERS[0], "hub", "serving"}}  # serving loads modules through hub/ only

# (importer, imported) -> why this upward import is wanted; kept as short as possible
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    module_level: bool
    type_checking: bool


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["finehub", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


MODULES = module_names()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.is_package = module, is_package
        self.module_level, self.type_checking = True, False
        self.found: list[Import] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        saved, self.module_level = self.module_level, False
        self.generic_visit(node)
        self.module_level = saved

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        saved, self.type_checking = self.type_checking, True
        for child in node.body:
            self.visit(child)
        self.type_checking = saved
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.split(".")
            if not self.is_package:
                package.pop()
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(submodule if submodule in MODULES else base, node.lineno)

    def _add(self, target: str, line: int) -> None:
        if target == "finehub" or target.startswith("finehub."):
            self.found.append(Import(self.module, target, line, self.module_level, self.type_checking))


def imports() -> list[Import]:
    found: list[Import] = []
    for name, path in MODULES.items():
        collector = _Collector(name, path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        found += collector.found
    return list(dict.fromkeys(found))  # `from x import a, b` is one import of x


IMPORTS = imports()


def runtime_graph() -> dict[str, set[str]]:
    """Module -> modules it executes when imported: its module-level imports, and the packages
    above each of those (run first by Python) that are not its own ancestors."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for imp in IMPORTS:
        if not imp.module_level or imp.type_checking:
            continue
        parts = imp.imported.split(".")
        for i in range(1, len(parts) + 1):
            target = ".".join(parts[:i])
            own_ancestor = imp.importer == target or imp.importer.startswith(target + ".")
            if target in MODULES and target != imp.importer and not own_ancestor:
                graph[imp.importer].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Tarjan's algorithm; yields every component, singletons included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                yield from visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            yield sorted(component)

    for node in sorted(graph):
        if node not in index:
            yield from visit(node)


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violation(imp: Import) -> str | None:
    src, dst = top(imp.importer), top(imp.imported)
    if imp.importer == "finehub":  # the public facade: it looks names up lazily, in every layer
        return None if not imp.module_level or RANK[dst] == 0 else "the root package must stay light"
    if src == dst:
        return None
    if dst in FORBIDDEN.get(src, ()):
        return f"{src}/ must not import {dst}/"
    if src in ONLY and dst not in ONLY[src]:
        return f"{src}/ may import only {', '.join(sorted(ONLY[src] - {''}))}"
    if RANK[dst] > RANK[src]:
        return f"{src}/ is below {dst}/"
    return None


def test_every_module_has_a_layer() -> None:
    assert sorted({top(m) for m in MODULES} - set(RANK)) == []


def test_the_collector_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import finehub.hub.store\n"
        "from finehub.data import readers\n"
        "from finehub.errors import ConfigError\n"
        "if TYPE_CHECKING:\n    from finehub.finetune.state import TrainerState\n"
        "else:\n    import finehub.nn\n"
        "def f():\n    from . import registry\n"
    )
    collector = _Collector("finehub.data.dataset", is_package=False)
    collector.visit(ast.parse(source))
    seen = {(i.imported, i.module_level, i.type_checking) for i in collector.found}
    assert seen == {
        ("finehub.hub.store", True, False),
        ("finehub.data.readers", True, False),
        ("finehub.errors", True, False),
        ("finehub.finetune.state", True, True),
        ("finehub.nn", True, False),
        ("finehub.data.registry", False, False),
    }


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert [c for c in strongly_connected(graph) if len(c) > 1] == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    cycles = [c for c in strongly_connected(runtime_graph()) if len(c) > 1]
    assert cycles == []


def test_imports_point_down_the_layers() -> None:
    found = {}
    for imp in IMPORTS:
        why = violation(imp)
        if why is not None and (imp.importer, imp.imported) not in ALLOWED:
            found[f"{imp.importer}:{imp.line} imports {imp.imported}"] = why
    assert found == {}


def test_every_allowed_exception_is_still_needed() -> None:
    present = {(i.importer, i.imported) for i in IMPORTS if violation(i) is not None}
    assert sorted(set(ALLOWED) - present) == []
