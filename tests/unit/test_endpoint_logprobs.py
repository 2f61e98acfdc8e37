"""The Judge's p_green from a server's log-probabilities, on responses recorded in the shape vLLM's
completions API documents (`choices[0].logprobs.top_logprobs[0]`: token text -> logprob), parsed by the
openai client's own types. No test server returns logprobs in CI (transformers serve does not), so
this is where the reading is checked; README says so."""

from __future__ import annotations

import math
from typing import Any

from openai.types import Completion

from claimcourt.models.endpoint.logprobs import answer_word, logprob_verdict


def recorded(top: dict[str, float] | None, text: str = " YES") -> Completion:
    logprobs: dict[str, Any] | None = None
    if top is not None:
        chosen = max(top, key=top.__getitem__) if top else text
        logprobs = {
            "text_offset": [812],
            "token_logprobs": [top.get(chosen)],
            "tokens": [chosen],
            "top_logprobs": [top],
        }
    return Completion.model_validate(
        {
            "id": "cmpl-4f1e2",
            "object": "text_completion",
            "created": 1764650000,
            "model": "judge",
            "choices": [
                {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": "length", "stop_reason": None}
            ],
            "usage": {"prompt_tokens": 812, "completion_tokens": 1, "total_tokens": 813},
        }
    )


def verdict(reply: Completion) -> Any:
    return logprob_verdict(reply.choices[0], method="logprobs@judge", prompt="p", claim_truncated=False)


def test_p_green_sums_every_variant_of_yes_and_no() -> None:
    top = {" YES": -0.4, " NO": -1.6, "YES": -3.0, " Yes": -3.5, "▁no": -4.0, "\n": -5.0}
    got = verdict(recorded(top))
    yes = math.exp(-0.4) + math.exp(-3.0) + math.exp(-3.5)
    no = math.exp(-1.6) + math.exp(-4.0)
    assert got.readable and got.label == 1
    assert math.isclose(got.p_green, yes / (yes + no), rel_tol=1e-9)
    assert got.components == {"p_yes": round(yes, 6), "p_no": round(no, 6)}
    assert "' YES'" in got.rationale and "'▁no'" in got.rationale


def test_a_no_answer_gives_a_low_p_green() -> None:
    got = verdict(recorded({" NO": -0.1, " YES": -2.5}))
    assert got.label == 0 and got.p_green is not None and got.p_green < 0.1


def test_neither_yes_nor_no_is_unreadable_never_guessed() -> None:
    got = verdict(recorded({" the": -0.2, "\n": -1.9}, text=" the"))
    assert not got.readable and got.label is None and got.p_green is None
    assert "neither YES nor NO" in (got.unreadable_reason or "") and "' the'" in (got.unreadable_reason or "")


def test_a_server_without_logprobs_is_unreadable() -> None:
    got = verdict(recorded(None))  # what transformers serve returns: logprobs null
    assert not got.readable and "none returned" in (got.unreadable_reason or "")


def test_one_answer_missing_is_bounded_by_the_smallest_returned() -> None:
    """NO below the top-k: its probability is at most the smallest one returned, so p_green is not 1."""
    got = verdict(recorded({" YES": -0.05, " maybe": -3.0, ".": -6.0}))
    expected = math.exp(-0.05) / (math.exp(-0.05) + math.exp(-6.0))
    assert got.p_green is not None and math.isclose(got.p_green, expected) and got.p_green < 1.0


def test_answer_words_ignore_case_and_space_marks() -> None:
    assert [answer_word(t) for t in (" YES", "YES", " Yes", "ĠYES", "▁yes", " NO", "No", " YESS", "NOPE")] == [
        "yes", "yes", "yes", "yes", "yes", "no", "no", None, None,
    ]  # fmt: skip


def test_the_chat_style_shape_is_read_too() -> None:
    """Recent llama-server answers /v1/completions with `content[0].top_logprobs` (a list of tokens)."""
    top = [{"token": " YES", "logprob": -0.7, "bytes": [32, 89, 69, 83]}, {"token": " NO", "logprob": -0.9}]
    reply = Completion.model_validate(
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 1764650000,
            "model": "judge",
            "choices": [
                {
                    "index": 0,
                    "text": " YES",
                    "finish_reason": "length",
                    "logprobs": {"content": [{"token": " YES", "logprob": -0.7, "top_logprobs": top}]},
                }
            ],
        }
    )
    got = verdict(reply)
    assert got.readable and math.isclose(got.p_green, math.exp(-0.7) / (math.exp(-0.7) + math.exp(-0.9)))
