"""The engine's import structure, read from the source (AST; nothing is imported or run).

Two promises of the pipeline package (issue 17):

* ``dptab_core.eval`` is a leaf: it imports nothing from ``dptab_core.pipeline``, at module level,
  inside functions, or for type checking only. Metrics and reports take data; the pipeline calls them.
* The module import graph of ``dptab_core`` has no cycle. Only **module-level** imports count in the
  first check (imports under ``if TYPE_CHECKING:`` do not run and are left out everywhere).
* Counting function-level (lazy) imports too, the graph has no cycle either (:data:`LAZY_CYCLE_DEBT`
  may name a known lazy edge while it is being paid off; each must still exist, and it is empty). The image
  model family (``image.family`` ← the families ← ``image.models``, the builder) and the demo data
  (``data.demo_images`` ← ``data.demo_public`` ← ``data.demo``) are layered, and the dataset budget
  reads the sweep's methods from ``pipeline.baselines``, not from ``pipeline.sweep``, with no debt.

An edge goes to the module an import names (``from a.b import c`` names ``a.b.c`` when that is a
module, else ``a.b``); the ``__init__`` of the packages above it is not counted, since every package
that re-exports its own submodules would otherwise be a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "dptab_core"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The dptab_core modules one import statement names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in MODULES}
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    out = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in MODULES:
            out.add(f"{base}.{alias.name}")
        elif base in MODULES:
            out.add(base)
    return out


def imports_of(module: str, *, module_level_only: bool, type_checking: bool) -> set[str]:
    """The dptab_core modules ``module`` imports (itself left out)."""
    found: set[str] = set()

    def visit(node: ast.AST, *, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                if type_checking:
                    visit(child, in_function=in_function)
                for orelse in child.orelse:
                    visit(orelse, in_function=in_function)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom) and not (in_function and module_level_only):
                found.update(_targets(module, child))
            visit(
                child, in_function=in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            )

    visit(ast.parse(MODULES[module].read_text(encoding="utf-8")), in_function=False)
    found.discard(module)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, …, a]``, or None when it has none (depth-first search).

    >>> find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}})
    ['a', 'b', 'c', 'a']
    >>> find_cycle({"a": {"b"}, "b": set()}) is None
    True
    """
    state: dict[str, str] = {}  # "open" while on the current path, "done" once fully explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_walk_sees_the_packages_modules_and_their_imports():
    assert {"dptab_core.pipeline.run", "dptab_core.pipeline.stages", "dptab_core.eval.evaluate"} <= set(MODULES)
    stages = imports_of("dptab_core.pipeline.stages", module_level_only=False, type_checking=True)
    assert {"dptab_core.pipeline.run", "dptab_core.eval.report_html"} <= stages, stages


def test_eval_imports_nothing_from_the_pipeline():
    leaks = sorted(
        f"{module} imports {target}"
        for module in MODULES
        if module.startswith(f"{PACKAGE}.eval")
        for target in imports_of(module, module_level_only=False, type_checking=True)
        if target == f"{PACKAGE}.pipeline" or target.startswith(f"{PACKAGE}.pipeline.")
    )
    assert not leaks, "dptab_core.eval must not import the pipeline (pass data in instead):\n" + "\n".join(leaks)


def test_the_module_level_import_graph_has_no_cycle():
    graph = {module: imports_of(module, module_level_only=True, type_checking=False) for module in MODULES}
    cycle = find_cycle(graph)
    assert cycle is None, "module-level import cycle: " + " → ".join(cycle or [])


LAZY_CYCLE_DEBT: set[tuple[str, str]] = set()
"""Function-level imports that still close a cycle, as (importer, imported): shrink this, never grow it."""


def _full_graph() -> dict[str, set[str]]:
    return {module: imports_of(module, module_level_only=False, type_checking=False) for module in MODULES}


def test_the_import_graph_has_no_cycle_even_counting_function_level_imports():
    graph = _full_graph()
    stale = sorted(f"{a} → {b}" for a, b in LAZY_CYCLE_DEBT if b not in graph.get(a, set()))
    assert not stale, "LAZY_CYCLE_DEBT names imports that are gone (remove them):\n" + "\n".join(stale)
    for importer, imported in LAZY_CYCLE_DEBT:
        graph[importer] = graph[importer] - {imported}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle (function-level imports included): " + " → ".join(cycle or [])


def test_the_image_families_and_the_demo_data_are_layered():
    """Base ← families ← builder, and drawing blocks ← public set ← demo: nothing imports back up."""
    graph = _full_graph()
    image = f"{PACKAGE}.image"
    families = {f"{image}.models", f"{image}.diffusion", f"{image}.latent"}
    assert not graph[f"{image}.family"] & (families | {f"{image}.train", f"{image}.dpsgd"})
    for family in (f"{image}.diffusion", f"{image}.latent"):
        assert f"{image}.family" in graph[family] and f"{image}.models" not in graph[family], family
    assert {f"{image}.diffusion", f"{image}.latent", f"{image}.family"} <= graph[f"{image}.models"]
    data = f"{PACKAGE}.data"
    assert f"{data}.demo" not in graph[f"{data}.demo_public"] | graph[f"{data}.demo_images"]
    assert f"{data}.demo_public" not in graph[f"{data}.demo_images"]
    assert {f"{data}.demo_public", f"{data}.demo_images"} <= graph[f"{data}.demo"]
