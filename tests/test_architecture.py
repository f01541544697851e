"""The house rules of docs/architecture.md, checked on the source: imports point down, no import cycles.

Every ``import`` in ``ltsnn/`` is read from the syntax tree (lazy imports inside functions included), so a
new upward import or circle fails here before it confuses anyone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ltsnn"

# The floors of the house (docs/architecture.md): a room may import rooms on lower floors only.
FLOORS = {
    "__init__": 0, "registry": 0, "files": 0,
    "functional": 1,
    "data": 2, "layers": 2,
    "neurons": 3,
    "kernels": 2,
    "models": 4, "convert": 4,
    "engine": 5, "robust": 5,
    "tasks": 6,
    "config": 7,
    "build": 8,
    "cli": 9, "__main__": 10,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The ``ltsnn`` modules ``path`` imports, as dotted names (``from a import b`` counts a.b if a is a package)."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:                                       # relative import
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{a.name}" for a in node.names)
    known = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in known}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


SOURCES = sorted(PACKAGE.rglob("*.py"))
GRAPH = {_module_name(p): _imports(p) for p in SOURCES}


def test_every_room_has_a_floor():
    rooms = {_room(m) for m in GRAPH}
    assert rooms <= set(FLOORS), f"rooms without a floor in FLOORS (add them to docs/architecture.md too): " \
                                 f"{sorted(rooms - set(FLOORS))}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    room = _room(module)
    upward = sorted(name for name in GRAPH[module]
                    if _room(name) != room and FLOORS[_room(name)] >= FLOORS[room] and _room(name) != "__init__")
    assert not upward, f"{module} (room {room!r}, floor {FLOORS[room]}) imports a room on its floor or above: {upward}"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}                                   # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_rooms():
    rooms: dict[str, set[str]] = {}
    for module, names in GRAPH.items():
        rooms.setdefault(_room(module), set()).update(_room(n) for n in names if _room(n) != _room(module))
    assert _cycle(rooms) is None, f"import cycle between rooms: {' -> '.join(_cycle(rooms))}"


def test_no_import_cycle_between_modules():
    """Importing ``a.b.c`` runs ``a/__init__``, ``a/b/__init__`` and ``c``: edges go to each of them, except to
    the importer's own packages (already running when it is imported)."""
    graph = {}
    for module, names in GRAPH.items():
        own = {".".join(module.split(".")[:k]) for k in range(1, len(module.split(".")) + 1)}
        targets = set()
        for name in names:
            parts = name.split(".")
            targets.update(".".join(parts[:k]) for k in range(2, len(parts) + 1))
        graph[module] = {t for t in targets if t not in own and t in GRAPH}
    assert _cycle(graph) is None, f"import cycle between modules: {' -> '.join(_cycle(graph))}"


def test_the_checker_sees_a_cycle_and_an_upward_import():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    assert FLOORS["engine"] < FLOORS["tasks"] and FLOORS["data"] < FLOORS["tasks"] < FLOORS["config"]


def test_fit_reads_top_to_bottom():
    """The training loop stays short: resume, the epoch record and the save policy live in helpers."""
    import inspect

    from ltsnn.engine import fit
    assert len(inspect.getsource(fit).splitlines()) <= 60


def test_the_engine_never_names_a_task():
    """Task-specific names belong to ltsnn.tasks: the engine's code knows the Task protocol only."""
    import io
    import tokenize

    banned = {"omega", "classificationtask", "detectiontask", "classificationloss", "yololoss"}
    found = sorted({(p.name, tok.string) for p in (PACKAGE / "engine").rglob("*.py")
                    for tok in tokenize.generate_tokens(io.StringIO(p.read_text()).readline)
                    if tok.type == tokenize.NAME and tok.string.lower() in banned})
    assert not found, f"the engine names a task: {found}"
