"""The floor plan holds: no import runs up the floors and no packages (or files) import each other in a cycle,
beyond the known violations listed in `benchmarks/import_graph.py` (a list that may only shrink)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "import_graph.py"
_spec = importlib.util.spec_from_file_location("import_graph", _SCRIPT)
assert _spec is not None and _spec.loader is not None
import_graph = importlib.util.module_from_spec(_spec)
sys.modules["import_graph"] = import_graph  # dataclasses look their module up by name
_spec.loader.exec_module(import_graph)


def test_no_new_back_arrow_or_package_cycle() -> None:
    found = import_graph.violations(import_graph.load())
    assert sorted(found - import_graph.KNOWN) == [], "new violations of the floor plan"


def test_the_known_list_only_names_violations_that_still_exist() -> None:
    found = import_graph.violations(import_graph.load())
    assert sorted(import_graph.KNOWN - found) == [], "fixed: remove these from import_graph.KNOWN"


def test_every_module_has_a_floor() -> None:
    modules = import_graph.load()
    assert {import_graph.floor(name) for name in modules}  # raises SystemExit on an unplaced package


def test_a_lazy_import_inside_a_function_counts(tmp_path: Path) -> None:
    package = tmp_path / "claimcourt"
    (package / "store").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "store" / "__init__.py").write_text("")
    (package / "config.py").write_text("def f():\n    from claimcourt.store import ledger\n")
    (package / "store" / "ledger.py").write_text("from claimcourt import config\n")
    modules = import_graph.load(package)
    assert import_graph.back_arrows(modules) == ["config -> store.ledger"]
    assert import_graph.package_cycles(modules) == ["config, store"]


def test_a_file_cycle_fails_the_check_even_behind_type_checking(tmp_path: Path) -> None:
    package = tmp_path / "claimcourt"
    (package / "trace").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "trace" / "__init__.py").write_text("")
    (package / "trace" / "steps.py").write_text("from claimcourt.trace import nodes\n")
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from claimcourt.trace.steps import Step\n"
    (package / "trace" / "nodes.py").write_text(typed)
    modules = import_graph.load(package)
    assert import_graph.violations(modules) == {"file cycle: trace.nodes, trace.steps"}
