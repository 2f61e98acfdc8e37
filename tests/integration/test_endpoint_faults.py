"""Faults between claimcourt and a real server: 503s, a timeout, retries running out, and the server
killed mid-batch then restarted. The server is `transformers serve` serving the tiny models; the 503s
and the slow answer come from a small real proxy process in front of it (tests/fault_proxy.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from tests.conftest import ctrl_c_reaches_it, read_csv, write_csv
from tests.endpoint_support import (
    Served,
    endpoint_toml,
    fault_proxy,
    proxy_stats,
    serving,
    transformers_serve,
    warm,
)
from tests.hf_tiny import TinyModels, build_tiny_models

pytestmark = pytest.mark.slow
SRC = Path(__file__).resolve().parents[2] / "src"
# Advocate, Skeptic, the Judge, and the Judge's one JSON repair (the tiny random model writes no JSON).
REQUESTS_PER_CLAIM = 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny: TinyModels) -> Iterator[Served]:
    served = transformers_serve(tmp_path_factory.mktemp("serve") / "serve.log")
    with serving(served, "transformers serve", warm_up=lambda s: warm(s, tiny)) as started:
        yield started


@pytest.fixture
def proxy(request: pytest.FixtureRequest, server: Served, tmp_path: Path) -> Iterator[Served]:
    started = fault_proxy(server, tmp_path / "proxy.log", **request.param).start()
    yield started
    started.stop(signal.SIGKILL)  # it may hold delayed requests; it keeps nothing worth a clean stop


@pytest.fixture
def batch_csv(tmp_path: Path, silver_rows: list[dict[str, str]]) -> Path:
    return write_csv(tmp_path / "batch.csv", [{"id": r["id"], "text": r["text"]} for r in silver_rows[300:320]])


def configure(settings: Settings, url: str, tiny: TinyModels, concurrency: int = 1, **endpoint: Any) -> None:
    settings.workspace.mkdir(parents=True, exist_ok=True)
    text = endpoint_toml(url, tiny, **endpoint).replace("max_concurrency = 8", f"max_concurrency = {concurrency}")
    (settings.workspace / "claimcourt.toml").write_text(text, encoding="utf-8")


def run(settings: Settings, batch: Path, *extra: str) -> list[dict[str, str]]:
    out = settings.workspace.parent / "results.csv"
    args = ["run", str(batch), "-w", str(settings.workspace), "--run-id", "faults", "-o", str(out), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return read_csv(out)


@pytest.mark.parametrize("proxy", [{"fail_first": 2}], indirect=True)
def test_503_twice_then_200_is_retried(
    indexed_settings: Settings, tiny: TinyModels, proxy: Served, batch_csv: Path
) -> None:
    configure(indexed_settings, proxy.url, tiny, max_retries=2)
    rows = run(indexed_settings, batch_csv, "--limit", "3")
    assert [r["error"] for r in rows] == ["", "", ""], rows
    stats = proxy_stats(proxy)
    # Four requests a claim (two debaters, the Judge and its one JSON repair), and the two 503s.
    assert stats["failed"] == 2 and stats["posts"] == 3 * REQUESTS_PER_CLAIM + 2


@pytest.mark.parametrize("proxy", [{"delay_first": 1, "delay_s": 600}], indirect=True)
def test_a_timeout_is_retried(indexed_settings: Settings, tiny: TinyModels, proxy: Served, batch_csv: Path) -> None:
    """The first request is held far past the timeout; the others must fit in it however busy the
    machine, so the timeout is generous (10 s for a tiny model's answer)."""
    configure(indexed_settings, proxy.url, tiny, max_retries=1, timeout_s=10.0)
    started = time.perf_counter()
    rows = run(indexed_settings, batch_csv, "--limit", "2")
    assert [r["error"] for r in rows] == ["", ""], rows
    assert time.perf_counter() - started >= 10.0  # the first request waited out its timeout
    assert proxy_stats(proxy)["delayed"] == 1


@pytest.mark.parametrize("proxy", [{"fail_first": 3}], indirect=True)
def test_retries_run_out_then_the_rerun_asks_only_for_those(
    indexed_settings: Settings, tiny: TinyModels, proxy: Served, batch_csv: Path
) -> None:
    configure(indexed_settings, proxy.url, tiny, max_retries=0)
    rows = run(indexed_settings, batch_csv, "--limit", "4")
    failed = [r for r in rows if r["error"]]
    assert failed and len(rows) == 4
    assert all("503" in r["error"] and "overloaded (fault proxy)" in r["error"] for r in failed), failed
    before = proxy_stats(proxy)["posts"]
    rows = run(indexed_settings, batch_csv, "--limit", "4")
    assert [r["error"] for r in rows] == [""] * 4 and len({r["id"] for r in rows}) == 4
    # Only the failed claims were asked again (at most all their requests each), none of the others.
    assert 0 < proxy_stats(proxy)["posts"] - before <= REQUESTS_PER_CLAIM * len(failed)


def _claimcourt(settings: Settings, batch: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "claimcourt.cli.app", "run", str(batch), "-w", str(settings.workspace)]
    command += ["--run-id", "killed", "-o", str(out)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=ctrl_c_reaches_it
    )


@pytest.mark.parametrize("proxy", [{"delay_first": 1000, "delay_s": 3600}], indirect=True)
def test_ctrl_c_cancels_requests_in_flight(
    indexed_settings: Settings, tiny: TinyModels, proxy: Served, batch_csv: Path
) -> None:
    configure(indexed_settings, proxy.url, tiny, concurrency=4)
    out = indexed_settings.workspace.parent / "results.csv"
    batch = _claimcourt(indexed_settings, batch_csv, out)
    deadline = time.monotonic() + 120
    while proxy_stats(proxy)["in_flight"] < 4 and batch.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proxy_stats(proxy)["in_flight"] >= 4
    batch.send_signal(signal.SIGINT)
    # Every request is held for an hour: the process ending at all means they were cancelled, not
    # awaited (the timeout only ends a failing test).
    output, _ = batch.communicate(timeout=600)
    assert batch.returncode == 130, output.decode()
    assert "Resume with: claimcourt run" in " ".join(output.decode().split())
    assert all(r["error"] == "" for r in read_csv(out))  # nothing recorded as failed for being stopped


def test_server_killed_mid_batch_then_restarted(
    indexed_settings: Settings, tiny: TinyModels, server: Served, batch_csv: Path
) -> None:
    """Last in this module: it kills the module's server and starts it again on the same port."""
    configure(indexed_settings, server.url, tiny, concurrency=2, max_retries=1)
    out = indexed_settings.workspace.parent / "results.csv"
    served_before = server.requests_served()
    batch = _claimcourt(indexed_settings, batch_csv, out)
    deadline = time.monotonic() + 240
    while server.requests_served() - served_before < 15 and batch.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert batch.poll() is None, (batch.stdout.read() if batch.stdout else b"").decode()
    server.stop(signal.SIGKILL)
    output, _ = batch.communicate(timeout=240)
    first = read_csv(out)
    assert any(r["error"] for r in first) and any(not r["error"] for r in first), output.decode()
    try:
        server.start()
        warm(server, tiny)
    except RuntimeError as exc:
        pytest.fail(f"the server did not restart: {exc}")
    rerun = _claimcourt(indexed_settings, batch_csv, out)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output.decode()
    rows = read_csv(out)
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in read_csv(batch_csv)), output.decode()
    assert all(not r["error"] for r in rows), rows
    debates = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert len({d["claim_id"] for d in debates}) == len(debates) == 20
