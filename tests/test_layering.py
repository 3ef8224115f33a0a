"""The architecture, enforced: pure code imports no orchestration or I/O, quality and warehouse never reach up into
the Dagster wiring, no project import hides inside a function, and the packages form no cycle."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "assets", "warehouse", "quality")

# Pure: the settings model, sources, calendars, the core math and the rules. No Dagster, DuckDB or GX.
PURE = [
    "pipelines.settings", "warehouse.schemas",
    "assets.raw.sources.base", "assets.raw.sources.calendars", "assets.raw.sources.sample",
    "assets.raw.sources.exchanges", "assets.raw.sources.yahoo", "assets.raw.sources.venues",
    "assets.core.basis", "assets.core.funding", "assets.core.returns", "assets.core.spread",
    "assets.core.correlation", "assets.core.stats", "assets.marts.rules", "assets.marts.evaluation",
    "assets.marts.backtest", "assets.marts.alerts", "assets.guard", "assets.svg",
]
# The Dagster asset layer: what quality and warehouse must never import.
ASSET_LAYER = ("assets.resources", "assets.store", "assets.metadata", "assets.reads", "assets.charts",
               "assets.raw.assets", "assets.core.assets", "assets.marts.assets")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def project_imports(path: Path, module: str) -> list[tuple[str, bool]]:
    """(imported project module, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                found.append((name, id(node) in top_level))
    return found


def resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def edges() -> list[tuple[str, str, bool]]:
    known = modules()
    out = []
    for module, path in known.items():
        for name, top in project_imports(path, module):
            target = resolve(name, known)
            if target and target != module:
                out.append((module, target, top))
    return out


def test_no_project_import_hides_inside_a_function():
    hidden = sorted({(a, b) for a, b, top in edges() if not top})
    assert not hidden, f"imports inside functions (move them to the top, or fix the layering): {hidden}"


def test_quality_and_warehouse_never_import_the_wiring_or_the_asset_layer():
    bad = sorted({(a, b) for a, b, _ in edges()
                  if a.split(".")[0] in ("quality", "warehouse")
                  and (b.split(".")[0] == "pipelines" or b in ASSET_LAYER)})
    assert not bad, bad


def package_of(module: str, known: dict[str, Path]) -> str:
    """The folder a module lives in (a package's own __init__ belongs to it)."""
    return module if known[module].name == "__init__.py" else module.rpartition(".")[0]


def test_the_packages_form_no_cycle():
    known = modules()
    graph: dict[str, set[str]] = {}
    for a, b, _ in edges():
        pa, pb = package_of(a, known), package_of(b, known)
        if pa != pb and not pb.startswith(pa + ".") and not pa.startswith(pb + "."):
            graph.setdefault(pa, set()).add(pb)
    cycles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


@pytest.mark.parametrize("module", PURE)
def test_pure_code_imports_no_orchestration_or_io(module):
    code = (f"import sys; import {module}; "
            "print(sorted(m for m in ('dagster', 'duckdb', 'great_expectations') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# The composition roots: where the settings of a deployment are loaded; everything else receives them.
SETTINGS_LOADERS = {"pipelines.settings", "pipelines.definitions", "pipelines.cli", "pipelines.query",
                    "pipelines.report"}


def test_settings_are_loaded_only_where_a_deployment_starts():
    callers = set()
    for module, path in modules().items():
        tree = ast.parse(path.read_text())
        if any(isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "load_settings"
               for node in ast.walk(tree)):
            callers.add(module)
    assert callers <= SETTINGS_LOADERS, sorted(callers - SETTINGS_LOADERS)
