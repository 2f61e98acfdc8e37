"""The hf profile's batching machinery: memory-sized chunks, the out-of-memory fallback, budgets."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from claimcourt.errors import ConfigError
from claimcourt.models.hf.engine import p_green_from_logits
from claimcourt.models.hf.loading import parse_memory
from claimcourt.models.hf.memory import (
    BatchStats,
    MemoryPlanner,
    activation_bytes_per_token,
    kv_bytes_per_token,
    run_in_chunks,
)

PHI3_MINI = SimpleNamespace(  # microsoft/Phi-3-mini-4k-instruct
    num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32, hidden_size=3072, intermediate_size=8192,
    vocab_size=32064, head_dim=None,
)  # fmt: skip
MISTRAL_7B = SimpleNamespace(  # mistralai/Mistral-7B-v0.1
    num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, hidden_size=4096, intermediate_size=14336,
    vocab_size=32000, head_dim=128,
)  # fmt: skip


def fake_oom(limit: int):
    import torch

    calls: list[int] = []

    def run_chunk(chunk: list[int]) -> list[int]:
        calls.append(len(chunk))
        if len(chunk) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return [x * 10 for x in chunk]

    return run_chunk, calls


def test_hf_oom_halves_the_chunk_and_loses_no_row() -> None:
    items = list(range(13))
    run_chunk, calls = fake_oom(limit=3)
    caps: list[int] = []

    def on_oom(size: int) -> int:
        caps.append(size // 2)
        return size // 2

    stats = BatchStats()
    results = run_in_chunks(
        items, lengths=[5] * 13, rows_for=lambda _n: 8, on_oom=on_oom, run_chunk=run_chunk, stats=stats
    )

    assert results == [x * 10 for x in items]  # every row, in input order
    assert calls[:3] == [7, 3, 3]  # 13 rows in passes of up to 8: 7 fails, its half fits
    assert caps == [3]
    assert max(stats.sizes) == 3 and sum(stats.sizes) == 13  # the smaller size is kept afterwards
    assert stats.oom_retries == 1


def test_hf_passes_are_balanced() -> None:
    stats = BatchStats()
    run_in_chunks(
        list(range(10)), lengths=[5] * 10, rows_for=lambda _n: 8, on_oom=lambda s: s, run_chunk=list, stats=stats
    )
    assert stats.sizes == [5, 5]  # not 8 + a straggler of 2


def test_hf_pass_spans_cover_each_finished_pass_in_order() -> None:
    run_chunk, _calls = fake_oom(limit=4)
    stats = BatchStats()
    run_in_chunks(
        list(range(8)),
        lengths=[5] * 8,
        rows_for=lambda _n: 8,
        on_oom=lambda s: s // 2,
        run_chunk=run_chunk,
        stats=stats,
    )
    # The pass that ran out of memory is not a pass: two spans for the two halves that ran.
    assert len(stats.pass_spans) == stats.chunks == 2
    (a_start, a_end), (b_start, b_end) = stats.pass_spans
    assert a_start <= a_end <= b_start <= b_end


def test_hf_oom_on_a_single_row_is_raised_not_swallowed() -> None:
    import torch

    run_chunk, _calls = fake_oom(limit=0)
    with pytest.raises(torch.OutOfMemoryError):
        run_in_chunks([1, 2], lengths=[1, 1], rows_for=lambda _n: 2, on_oom=lambda s: s // 2, run_chunk=run_chunk)


def test_hf_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def broken(chunk: list[int]) -> list[int]:
        calls.append(len(chunk))
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        run_in_chunks([1, 2, 3], lengths=[1, 1, 1], rows_for=lambda _n: 3, on_oom=lambda s: s, run_chunk=broken)
    assert calls == [3]


def test_hf_chunks_are_sorted_by_length_to_limit_padding() -> None:
    seen: list[list[int]] = []

    def record(chunk: list[int]) -> list[int]:
        seen.append(chunk)
        return chunk

    lengths = [10, 500, 12, 480, 11, 490]
    stats = BatchStats()
    out = run_in_chunks(
        list(range(6)), lengths=lengths, rows_for=lambda _n: 3, on_oom=lambda s: s, run_chunk=record, stats=stats
    )
    assert out == list(range(6))
    assert [sorted(c) for c in seen] == [[1, 3, 5], [0, 2, 4]]
    assert stats.padded_tokens - stats.prompt_tokens == (500 * 3 - 1470) + (12 * 3 - 33)


def test_hf_kv_cache_bytes_come_from_the_config() -> None:
    # Phi-3-mini: 32 layers x 32 KV heads (no GQA) x 96 x 2 (K, V) x 2 bytes = 384 KiB per token.
    assert kv_bytes_per_token(PHI3_MINI, 2) == 2 * 32 * 32 * 96 * 2 == 384 * 1024
    # Mistral-7B has grouped-query attention (8 KV heads): a quarter of that per token.
    assert kv_bytes_per_token(MISTRAL_7B, 2) == 2 * 32 * 8 * 128 * 2


def test_hf_batch_size_follows_the_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    planner = MemoryPlanner(budget_bytes=parse_memory("22GiB"), max_batch=512, dtype="bfloat16")
    free = 14 * 1024**3
    monkeypatch.setattr(planner, "_free_bytes", lambda: free)
    phi3 = SimpleNamespace(model_id="phi3", config=PHI3_MINI)
    mistral = SimpleNamespace(model_id="mistral", config=MISTRAL_7B)

    debater_rows = planner.rows_for(phi3, 700, 128)
    judge_rows = planner.rows_for(mistral, 1000, 64)

    assert 8 <= debater_rows < 64
    assert debater_rows * 828 * kv_bytes_per_token(PHI3_MINI, 2) <= free  # the KV cache alone fits
    assert judge_rows * 1064 * kv_bytes_per_token(MISTRAL_7B, 2) <= free
    # Twice the budget left over, about twice the rows.
    free *= 2
    assert planner.rows_for(phi3, 700, 128) in range(2 * debater_rows - 1, 2 * debater_rows + 2)
    # After an out-of-memory error the cap holds whatever the estimate says.
    assert planner.cap_after_oom("phi3", 40) == 20
    assert planner.rows_for(phi3, 10, 10) == 20


def test_hf_memory_budget_parsing() -> None:
    assert parse_memory("22GiB") == 22 * 1024**3
    assert parse_memory("24GB") == 24 * 1000**3
    assert parse_memory("1.5 GiB") == int(1.5 * 1024**3)
    with pytest.raises(ConfigError, match="22GiB"):
        parse_memory("lots")


def test_hf_p_green_is_the_softmax_over_yes_and_no() -> None:
    import math

    assert p_green_from_logits(2.0, 2.0) == 0.5
    yes, no = 1.3, -0.4
    assert p_green_from_logits(yes, no) == pytest.approx(math.exp(yes) / (math.exp(yes) + math.exp(no)))
    assert p_green_from_logits(-800.0, 0.0) == pytest.approx(0.0)  # no overflow


def test_hf_nothing_heavy_loads_at_import() -> None:
    code = (
        "import sys\n"
        "import claimcourt.models.hf.backend, claimcourt.models.hf.reference, claimcourt.deps\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'bitsandbytes', 'langchain_huggingface') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_hf_base_model_without_chat_template_gets_a_plain_instruction_format() -> None:
    from claimcourt.models.hf.prompts import chat_text

    class BaseTokenizer:
        chat_template = None

    text = chat_text(
        BaseTokenizer(), [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Is it green?"}]
    )
    assert text == "Be brief.\n\n### Instruction:\nIs it green?\n### Response:\n"


def test_hf_a_sliced_prefill_fits_more_judge_rows_and_stays_in_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """hf_decode's prefill runs in slices, so under a budget a Judge pass is bounded by its KV cache,
    not by every row's prefill activations: more rows per pass, and by the planner's own estimate the
    rows' caches plus one slice's activations still fit."""
    prefill_tokens = 16384
    planner = MemoryPlanner(budget_bytes=parse_memory("22GiB"), max_batch=512, dtype="bfloat16")
    free = 15 * 1024**3
    monkeypatch.setattr(planner, "_free_bytes", lambda: free)
    mistral = SimpleNamespace(model_id="mistral", config=MISTRAL_7B)
    whole = planner.rows_for(mistral, 1000, 70)
    sliced = planner.rows_for(mistral, 1000, 70, prefill_tokens=prefill_tokens)
    assert sliced >= 1.5 * whole
    kv = kv_bytes_per_token(MISTRAL_7B, 2)
    slab = (activation_bytes_per_token(MISTRAL_7B, 2) + 4 * 1000) * prefill_tokens
    per_row = kv * 1070 + 3 * MISTRAL_7B.vocab_size * 4
    assert slab + sliced * per_row <= free < slab + (sliced + 1) * per_row
    # A prompt longer than a slice is a slice of its own.
    assert planner.rows_for(mistral, 4 * prefill_tokens, 70, prefill_tokens=prefill_tokens) == 1


def test_hf_a_pass_with_memory_to_spare_prefills_in_larger_slices_within_the_estimate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where a pass's rows leave memory free, its prefill slices grow into half of it, by whole
    configured slices, to at most four; where the rows fill the budget they stay as configured, and the
    rows' caches plus the grown slice always fit by the planner's own estimate."""
    configured = 16384
    planner = MemoryPlanner(budget_bytes=None, max_batch=256, dtype="bfloat16")
    free = 120 * 1024**3  # an unbounded H200 beside both models' weights
    monkeypatch.setattr(planner, "_free_bytes", lambda: free)
    mistral = SimpleNamespace(model_id="mistral", config=MISTRAL_7B)
    per_token = activation_bytes_per_token(MISTRAL_7B, 2) + 4 * 1030
    per_row = kv_bytes_per_token(MISTRAL_7B, 2) * (1030 + 80) + 3 * MISTRAL_7B.vocab_size * 4

    assert planner.rows_for(mistral, 1030, 80, prefill_tokens=configured) == 256  # the cap, not memory
    assert planner.prefill_tokens_for(mistral, 256, 1030, 80, configured=configured) == 4 * configured

    grown_to = set()
    for spare_slices in range(12):
        free = 256 * per_row + per_token * configured * spare_slices + 12345
        for rows in (1, 100, 256):
            grown = planner.prefill_tokens_for(mistral, rows, 1030, 80, configured=configured)
            assert grown % configured == 0 and configured <= grown <= 4 * configured
            left = free - rows * per_row - per_token * configured
            # What it grew by sits inside half of what the rows and one slice leave.
            assert (grown - configured) * per_token <= max(left // 2, 0)
            grown_to.add(grown // configured)
    assert grown_to == {1, 2, 3, 4}

    # A budget the rows fill: the slice stays as configured.
    free = 15 * 1024**3
    rows = planner.rows_for(mistral, 1030, 80, prefill_tokens=configured)
    assert rows < 256
    assert planner.prefill_tokens_for(mistral, rows, 1030, 80, configured=configured) == configured
    # One prefill per pass stays so; and after an out-of-memory error the estimate is not trusted.
    free = 120 * 1024**3
    assert planner.prefill_tokens_for(mistral, 10, 1030, 80, configured=0) == 0
    planner.cap_after_oom("mistral", 200)
    assert planner.prefill_tokens_for(mistral, 10, 1030, 80, configured=configured) == configured
