"""Shared by the web tests: a workspace whose run 'r1' has real claims waiting for a person, two of them
written to attack the page (markup, script and template syntax in the claim text and in the id)."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from claimcourt.config import Settings, load_settings
from tests.conftest import write_csv

RUN_ID = "r1"
SCRIPT_TEXT = (
    "A solar panel <script>window.__pwned = 1</script> with {{ 7*7 }} and {% raw %} cells "
    "<img src=x onerror=alert(1)> converting sunlight into electricity."
)
SCRIPT_ID = "evil<b>1</b>"
TEMPLATE_TEXT = "A gearbox {{ config }} {% if true %}yes{% endif %} for a bicycle & a \"quoted\" 'claim'."
_template: Path | None = None


def _build(root: Path, silver_rows: list[dict[str, str]]) -> Path:
    from claimcourt.jobs.index import index_file
    from claimcourt.jobs.runner import Runner
    from claimcourt.tables import ClaimTable

    green = [r for r in silver_rows if r["label"] == "1"]
    other = [r for r in silver_rows if r["label"] == "0"]
    labelled = write_csv(root / "labelled.csv", green[:40] + other[:40])
    batch_rows = [{"id": r["id"], "text": r["text"]} for r in green[40:46] + other[40:46]]
    batch_rows += [{"id": SCRIPT_ID, "text": SCRIPT_TEXT}, {"id": "tmpl-2", "text": TEMPLATE_TEXT}]
    batch = write_csv(root / "batch.csv", batch_rows)
    settings = load_settings(overrides={"workspace": root / "ws", "threshold": 1.0}, environ={})
    index_file(labelled, settings)
    asyncio.run(Runner(settings).run(ClaimTable(batch), run_id=RUN_ID))
    return root / "ws"


@pytest.fixture
def web_ws(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, silver_rows: list[dict[str, str]]) -> Path:
    """A fresh copy of a workspace where run 'r1' has 14 claims waiting for a person (threshold 1.0: all of them)."""
    global _template
    if _template is None:
        _template = _build(tmp_path_factory.mktemp("web-template"), silver_rows)
    target = tmp_path / "ws"
    shutil.copytree(_template, target)
    return target


@pytest.fixture
def web_settings(web_ws: Path) -> Settings:
    return load_settings(overrides={"workspace": web_ws}, environ={})


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html[:2000]
    return found.group(1)
