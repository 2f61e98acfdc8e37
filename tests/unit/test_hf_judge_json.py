"""The Judge's JSON path (shared by the hf json mode and the endpoint backend): validate, repair once,
and an answer that cannot be read becomes an unreadable verdict, never a default label."""

from __future__ import annotations

import asyncio

import pytest

from claimcourt.models.judge_json import judge_by_json, parse_judge_answer


def test_hf_json_answers_are_validated() -> None:
    answer = parse_judge_answer('Sure! ```json\n{"label": "green", "confidence": 0.8, "rationale": "solar"}\n```')
    assert (answer.label, answer.p_green, answer.rationale) == (1, 0.8, "solar")
    assert parse_judge_answer('{"label": "not green", "confidence": 0.9}').p_green == pytest.approx(0.1)
    assert parse_judge_answer('{"label": 1, "confidence": 1.0, "extra": 3}').label == 1
    for bad, reason in (
        ("I think it is green.", "no JSON object"),
        ('{"label": "green", "confidence": 0.8', "no JSON object"),
        ('{"label": "blue", "confidence": 0.8}', "label"),
        ('{"label": "green", "confidence": 0.3}', "confidence"),
        ('{"label": "green"}', "confidence"),
        ('{"label": "green", "confidence": 0.8,}', "not valid JSON"),
    ):
        with pytest.raises(ValueError, match=reason):
            parse_judge_answer(bad)


class ScriptedJudge:
    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.conversations: list[list[dict[str, str]]] = []

    async def __call__(self, messages: list[dict[str, str]]) -> str:
        self.conversations.append(messages)
        return self.replies.pop(0)


def test_hf_json_invalid_answer_is_repaired_once() -> None:
    judge = ScriptedJudge("label: green", '{"label": "green", "confidence": 0.75, "rationale": "wind"}')
    verdict = asyncio.run(judge_by_json(judge, [{"role": "user", "content": "decide"}], retries=1))

    assert verdict.readable and verdict.label == 1 and verdict.p_green == 0.75
    assert verdict.method == "json+repair"
    repair = judge.conversations[1]
    assert repair[1] == {"role": "assistant", "content": "label: green"}
    assert "no JSON object" in repair[2]["content"]


def test_hf_json_unreadable_after_retries_is_never_defaulted() -> None:
    judge = ScriptedJudge("maybe", '{"label": "perhaps", "confidence": 0.9}')
    verdict = asyncio.run(judge_by_json(judge, [{"role": "user", "content": "decide"}], retries=1))

    assert not verdict.readable
    assert verdict.label is None and verdict.p_green is None and verdict.confidence == 0.0
    assert "2 attempt(s)" in (verdict.unreadable_reason or "")
    assert "label" in (verdict.unreadable_reason or "")
    assert len(judge.conversations) == 2
