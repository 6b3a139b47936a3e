"""The import graph of the tsdiff package: no circles, and gluonts only under ``tsdiff/integrations/``.

Every ``import`` statement counts, at module level or inside a function; only imports under
``if TYPE_CHECKING:`` are left out (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tsdiff"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[tuple[str, list[str], int]]:
    """``(module, names, level)`` of every import statement that can run."""
    found: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, [], 0) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.append((child.module or "", [alias.name for alias in child.names], child.level))
            visit(child)

    visit(tree)
    return found


def _resolve(importer: str, module: str, names: list[str], level: int) -> list[str]:
    """The tsdiff modules an import statement of ``importer`` loads."""
    if level:
        base = importer.split(".")
        if not MODULES[importer].name == "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (level - 1)]
        module = ".".join(base + ([module] if module else []))
    if module != "tsdiff" and not module.startswith("tsdiff."):
        return []
    targets = [f"{module}.{name}" for name in names if f"{module}.{name}" in MODULES]
    if len(targets) < len(names) or not names:
        while module not in MODULES and "." in module:
            module = module.rsplit(".", 1)[0]
        targets.append(module)
    return [t for t in targets if t != importer]


def _graph() -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    third_party: dict[str, list[str]] = {m: [] for m in MODULES}
    for name, path in MODULES.items():
        for module, names, level in _imports(ast.parse(path.read_text(), str(path))):
            edges[name].update(_resolve(name, module, names, level))
            if not level:
                third_party[name].append(module)
    return edges, third_party


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    return out


def test_graph_sees_function_level_and_relative_imports():
    edges, _ = _graph()
    assert "tsdiff.quantiles" in edges["tsdiff.metrics"]  # module level, relative
    assert "tsdiff.frames" in edges["tsdiff.metrics"]  # inside a function
    assert "tsdiff.estimator" not in edges["tsdiff.backtest"]  # under TYPE_CHECKING only
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles_among_tsdiff_modules():
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_gluonts_is_imported_only_under_integrations():
    _, third_party = _graph()
    outside = {name: sorted({m for m in mods if m == "gluonts" or m.startswith("gluonts.")})
               for name, mods in third_party.items() if not name.startswith("tsdiff.integrations")}
    assert {name: mods for name, mods in outside.items() if mods} == {}
