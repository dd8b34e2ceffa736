"""The app's shape: no import cycle, request logging below what builds on it, small modules."""

import graphlib
from pathlib import Path

import grimp
import pytest

import security

PACKAGE = Path(security.__file__).parent
MAX_LINES = 300


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Imports inside functions count too: a cycle hidden in a function is still a cycle.
    return grimp.build_graph("security", cache_dir=None)


def test_no_import_cycle_among_the_apps_modules(graph):
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    try:
        tuple(graphlib.TopologicalSorter(imports).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_request_logging_imports_nothing_that_builds_on_it(graph):
    for above in ("security.detection", "security.blocking", "security.tasks"):
        chain = graph.find_shortest_chain("security.requestlog", above, as_packages=True)
        assert chain is None, f"security.requestlog reaches {above}: {' -> '.join(chain)}"


def test_no_module_over_300_lines():
    oversized = {
        str(path.relative_to(PACKAGE)): lines
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert oversized == {}
