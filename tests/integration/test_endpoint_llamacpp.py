"""The logprobs Judge against a real llama.cpp server: `llama-server`'s C++ code from the `xllamacpp`
wheel (tests/llama_server.py) serving, on 127.0.0.1, a tiny Judge that the tests build and convert to
GGUF themselves (tests/gguf_tiny.py). `claimcourt run --profile endpoint` in `judge_mode = "logprobs"`
reads each verdict from the server's top log-probabilities, and the numbers are checked against the same
weights run by transformers on the same recorded prompt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from claimcourt.config import Settings, load_settings
from claimcourt.models.endpoint import client as endpoint_client
from claimcourt.workspace import WorkspacePaths
from tests.conftest import flat, read_csv, write_csv
from tests.endpoint_support import Served, endpoint_toml, llama_cpp_server, serving, unavailable
from tests.hf_tiny import TinyModels

pytestmark = pytest.mark.slow
ALIAS = "tiny-judge"


@dataclass(frozen=True)
class Judge:
    folder: Path  # the transformers folder
    gguf: Path  # the same weights, converted


@pytest.fixture(scope="module")
def judge(tmp_path_factory: pytest.TempPathFactory) -> Judge:
    try:
        import gguf  # noqa: F401

        from tests.gguf_tiny import build_yes_no_judge, write_gguf
    except ImportError as exc:
        unavailable(f"the gguf package is not installed ({exc}): pip install -e '.[dev]'")
    root = tmp_path_factory.mktemp("llama-judge")
    folder = build_yes_no_judge(root / "judge")
    return Judge(folder, write_gguf(folder, root / "judge.gguf", name=ALIAS))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, judge: Judge) -> Iterator[Served]:
    served = llama_cpp_server(judge.gguf, tmp_path_factory.mktemp("llama") / "server.log", alias=ALIAS)
    with serving(served, "llama.cpp's server") as started:
        yield started


@pytest.fixture
def batch_csv(tmp_path: Path, silver_rows: list[dict[str, str]]) -> Path:
    return write_csv(tmp_path / "batch.csv", [{"id": r["id"], "text": r["text"]} for r in silver_rows[200:220]])


def configure(settings: Settings, url: str, judge: Judge, **endpoint: Any) -> Settings:
    settings.workspace.mkdir(parents=True, exist_ok=True)
    values = {"debater_model": ALIAS, "judge_model": ALIAS, "judge_mode": "logprobs", **endpoint}
    toml = endpoint_toml(url, TinyModels(*[judge.folder] * 5), **values)  # every model name given here
    (settings.workspace / "claimcourt.toml").write_text(toml, encoding="utf-8")
    return load_settings(overrides={"workspace": settings.workspace})


def reference_answer(judge: Judge, prompts: list[str], top: int) -> list[tuple[float, float]]:
    """P(YES) and P(NO) at the next token after each prompt, from the transformers model: each summed over
    the tokens the endpoint Judge reads as YES or NO among the `top` most likely, as the server returns."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from tests.gguf_tiny import answer_token_ids

    model = LlamaForCausalLM.from_pretrained(judge.folder, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(judge.folder)
    answers = {word: set(ids) for word, ids in answer_token_ids(tokenizer).items()}
    found = []
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt").input_ids
            probs, tokens = torch.softmax(model(ids).logits[0, -1], dim=-1).topk(top)
            pairs = list(zip(tokens.tolist(), probs.tolist(), strict=True))
            p_yes = sum(p for t, p in pairs if t in answers["yes"])
            p_no = sum(p for t, p in pairs if t in answers["no"])
            found.append((p_yes, p_no))
    return found


def test_logprobs_verdicts_are_the_servers_numbers(
    indexed_settings: Settings, server: Served, judge: Judge, batch_csv: Path
) -> None:
    configure(indexed_settings, server.url, judge)
    out = indexed_settings.workspace.parent / "results.csv"
    ws = str(indexed_settings.workspace)
    result = CliRunner().invoke(_app(), ["run", str(batch_csv), "-w", ws, "--run-id", "lp", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_csv(out)
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in read_csv(batch_csv))
    assert all(r["error"] == "" for r in rows), rows
    debates = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert len(debates) == 20
    for debate in debates:
        assert debate["advocate"]["backend"] == debate["skeptic"]["backend"] == f"endpoint@{ALIAS}"
        verdict = debate["verdict"]
        assert verdict["method"] == f"logprobs@{ALIAS}" and verdict["readable"] is True, verdict
        assert "from the server's logprobs" in verdict["rationale"]
        read = verdict["rationale"].split("tokens read: ")[1].rstrip(")").split(", ")
        assert {"' YES'", "' NO'"} <= set(read), verdict["rationale"]
        assert verdict["prompt"].rstrip().endswith("### Answer:")

    # The same weights in transformers, on the prompts the server was sent: the same probabilities.
    reference = reference_answer(judge, [d["verdict"]["prompt"] for d in debates], top=20)
    by_id = {r["id"]: r for r in rows}
    for debate, (p_yes, p_no) in zip(debates, reference, strict=True):
        components = debate["verdict"]["components"]
        assert components["p_yes"] == pytest.approx(p_yes, abs=1e-4), debate["claim_id"]
        assert components["p_no"] == pytest.approx(p_no, abs=1e-4), debate["claim_id"]
        p_green = p_yes / (p_yes + p_no)
        assert float(by_id[debate["claim_id"]]["p_green"]) == pytest.approx(p_green, abs=1e-4)
    # Each claim gets its own number (not a constant, not a default), and confident ones are decided.
    p_greens = [float(r["p_green"]) for r in rows]
    assert max(p_greens) - min(p_greens) > 0.1, p_greens
    for row in rows:
        confident = max(float(row["p_green"]), 1 - float(row["p_green"])) >= 0.7
        assert (row["decided_by"] != "pending_review") == confident, row
    assert {r["decided_by"] for r in rows} == {"judge", "pending_review"}, p_greens
    assert all(sum(answer) > 0.99 for answer in reference)  # the tiny Judge answers YES or NO


def test_the_probe_accepts_llama_server_in_logprobs_mode(
    indexed_settings: Settings, server: Served, judge: Judge
) -> None:
    settings = configure(indexed_settings, server.url, judge)
    endpoint_client.probe(settings.endpoint)  # raises EndpointError if the server lacked anything


@pytest.mark.parametrize("role", ["debater_model", "judge_model"])
def test_a_model_name_the_server_does_not_serve_stops_the_run(
    indexed_settings: Settings, server: Served, judge: Judge, batch_csv: Path, role: str
) -> None:
    # llama.cpp's server answers any model name as the one model it has: the probe must still refuse it.
    configure(indexed_settings, server.url, judge, **{role: "no-such-model"})
    ws = str(indexed_settings.workspace)
    result = CliRunner().invoke(_app(), ["run", str(batch_csv), "-w", ws, "--run-id", "wrong"])
    assert result.exit_code == 2, result.output
    said = flat(result.output)
    assert f"does not serve model 'no-such-model' (it answered as '{ALIAS}'); it serves: {ALIAS}" in said
    assert f"set [endpoint] {role}" in said and len(result.output.strip().splitlines()) == 1, result.output
    paths = WorkspacePaths(indexed_settings.workspace)
    assert not paths.ledger.exists() and not (indexed_settings.workspace / "runs").exists()  # no claim touched


def _app() -> Any:
    from claimcourt.cli.app import app

    return app
