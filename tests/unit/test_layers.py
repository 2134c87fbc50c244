"""The import graph of `appliance/`: no circle, and every import runs down the layers.

Every import counts, at module level or inside a function (and under
TYPE_CHECKING): a function-local import hides an arrow, it does not remove it.
The layers are written down in docs/architecture.md, which must show this list.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "appliance"

# Bottom first. A unit is a package or module directly under appliance/; it may import
# only units of lower layers (and its own modules), never one beside it or above it.
LAYERS: list[tuple[str, ...]] = [
    ("appliance", "config", "datadir", "disk", "durable", "iothread", "logs", "reactortype",
     "stats", "units"),
    ("childproc", "lifecycle", "listening", "selfcmd"),
    ("spool", "storage", "submission", "supervise"),
    ("export", "ledger", "receiver"),
    ("node",),
    ("convert",),
    ("mr",),
    ("jobs",),
    ("admin",),
    ("server", "tui"),
    ("cli",),
    ("__main__",),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The appliance modules that the module `name` at `path` imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from appliance.storage import keys` imports the module appliance.storage.keys
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import appliance.x.y` names a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(path, name, known) for name, path in known.items()}


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer_of() -> dict[str, int]:
    return {u: i for i, units in enumerate(LAYERS) for u in units}


def test_every_unit_has_a_layer():
    units = {unit(m) for m in modules()}
    assert units - set(layer_of()) == set(), "add the new package or module to LAYERS"
    assert set(layer_of()) - units == set(), "a unit in LAYERS no longer exists"


def test_imports_run_down_the_layers():
    layer = layer_of()
    wrong = sorted(f"{a} -> {b} (layer {layer[unit(a)]} -> {layer[unit(b)]})"
                   for a, targets in import_graph().items() for b in targets
                   if unit(a) != unit(b) and layer[unit(b)] >= layer[unit(a)])
    assert wrong == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components of more than one module (the circles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def test_no_circle_of_modules():
    graph = import_graph()
    # A package's __init__ re-exports its modules; a module importing a sibling through the
    # package's face is still a circle, so the faces stay in the graph.
    assert strongly_connected(graph) == []


def test_the_checks_see_a_circle_and_an_import_up():
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": set()}
    assert strongly_connected(graph) == [["a.x", "a.y", "a.z"]]
    known = modules()
    spool_writer = PACKAGE / "spool" / "writer.py"
    assert "appliance.stats" in imported(spool_writer, "appliance.spool.writer", known)


def test_a_function_local_import_is_an_arrow(tmp_path: Path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from appliance.server import Server\n")
    known = modules()
    assert imported(source, "appliance.storage.m", known) == {"appliance.server"}


def documented_layers() -> list[tuple[str, ...]]:
    """The rows of the layer table in docs/architecture.md, bottom first."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", text, re.MULTILINE)
    by_number = {int(n): tuple(sorted(re.findall(r"`([\w_]+)`", names))) for n, names in rows}
    return [by_number[n] for n in sorted(by_number)]


def test_docs_show_the_same_layers():
    assert documented_layers() == [tuple(sorted(units)) for units in LAYERS]


@pytest.mark.parametrize("relative, name, expected", [
    ("from . import keys", "appliance.storage.filters", "appliance.storage.keys"),
    ("from ..spool import segments", "appliance.storage.filters", "appliance.spool.segments"),
])
def test_relative_imports_resolve(tmp_path: Path, relative: str, name: str, expected: str):
    source = tmp_path / "m.py"
    source.write_text(relative + "\n")
    assert imported(source, name, modules()) == {expected}
