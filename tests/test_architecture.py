"""The house's shape: every module imports, no import circles, and data flows one way.

Imports are read with ``ast`` (including the ones inside functions, which a circle would
only hide), so the check costs no database and about a second.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import reco

PACKAGE = Path(reco.__file__).parent

#: What each step may import besides itself, the standard library and third-party packages.
#: ``reco.db`` is the bottom of the house: it knows nothing of dbt, scoring or the CLI, only the
#: errors, the settings and the domain's vocabulary.
DB_MAY_IMPORT = {"reco", "reco.errors", "reco.settings", "reco.vocab"}

#: Module circles known to exist, each to be removed from here when it is resolved (the test
#: fails on a listed circle that is gone, so that this list never outlives its reason).
KNOWN_CIRCLES: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["reco", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The reco module that an imported name lives in (``reco.db.engine.connect`` -> ``reco.db.engine``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(reco module, line) for every import of reco code in ``module``, wherever it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # ``from pkg import submodule`` depends on the submodule; ``from pkg import name``
            # on the module that defines name
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            owner = _owner(name) if name.split(".")[0] == "reco" else None
            if owner and owner != module:
                yield owner, node.lineno


GRAPH: dict[str, set[str]] = {m: {t for t, _ in _imported(m, p)} for m, p in MODULES.items()}


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def _step(module: str) -> str:
    """The folder (step) a module belongs to: ``reco.db.engine`` -> ``reco.db``."""
    return ".".join(module.split(".")[:2])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_the_circle_finder_finds_a_circle_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [frozenset({"a", "b", "c"})]


def test_no_module_imports_itself_back_in_a_circle():
    circles = set(_circles(GRAPH))
    assert circles - KNOWN_CIRCLES == set(), "import circles among reco's modules"
    assert KNOWN_CIRCLES - circles == set(), "a known circle is resolved: remove it from KNOWN_CIRCLES"


def test_the_steps_import_each_other_one_way():
    """Between folders (reco.db, reco.scoring, …) the imports form no circle either, so that
    data and knowledge flow one way."""
    steps: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        steps.setdefault(_step(module), set()).update(_step(t) for t in targets if _step(t) != _step(module))
    assert _circles(steps) == []


#: The calls that open a connection, by driver; only reco/db/engine.py makes them.
OPENERS = {("psycopg", "connect"), ("dbapi", "connect"), ("adbc", "connect"), (None, "create_engine")}
CONNECTIONS_HOME = "reco.db.engine"


def _opens_connection(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return (func.value.id, func.attr) in OPENERS
    return isinstance(func, ast.Name) and (None, func.id) in OPENERS


def test_connections_are_opened_in_reco_db_engine_only():
    elsewhere = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        for module, path in MODULES.items()
        if module != CONNECTIONS_HOME
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and _opens_connection(node)
    ]
    assert elsewhere == []
    home = ast.parse(MODULES[CONNECTIONS_HOME].read_text())
    assert sum(isinstance(n, ast.Call) and _opens_connection(n) for n in ast.walk(home)) == 3


def test_reco_db_imports_nothing_above_it():
    upward = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {target}"
        for module in MODULES
        if _step(module) == "reco.db"
        for target, line in _imported(module, MODULES[module])
        if _step(target) != "reco.db" and target not in DB_MAY_IMPORT
    ]
    assert upward == []


def test_the_backtest_evaluation_is_pure():
    """reco.backtest.evaluation: events and recommendations in, metrics out, no database."""
    reached = {t for t, _ in _imported("reco.backtest.evaluation", MODULES["reco.backtest.evaluation"])}
    assert {t for t in reached if _step(t) in {"reco.db", "reco.dbt"}} == set()
