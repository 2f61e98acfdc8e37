"""The Judge's JSON path, for models whose answer can only be read as text (an endpoint without
log-probabilities, or a local model asked in `judge_mode = 'json'`).

The answer is validated with pydantic; an invalid answer gets one repair request (configurable) that
says what was wrong. An answer that still cannot be read becomes an unreadable verdict with the reason
recorded, which the graph sends to a person: it is never defaulted to a label or a confidence.
Backend-agnostic: a backend passes `ask`, a coroutine from chat messages to the model's reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from claimcourt.prompts import judge as judge_prompts
from claimcourt.prompts.evidence import prompt_excerpt
from claimcourt.state import Verdict

# Characters of the model's last reply quoted in an unreadable verdict's reason.
_REPLY_QUOTED = 120

ChatMessage = dict[str, str]
Ask = Callable[[list[ChatMessage]], Awaitable[str]]

_GREEN = {"green", "yes", "1", "y02", "green technology"}
_NOT_GREEN = {"not green", "no", "0", "not_green", "not-green"}
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


class JudgeAnswer(BaseModel):
    """What the Judge must reply: a label, its confidence in that label, a short rationale."""

    model_config = ConfigDict(extra="ignore")

    label: int
    confidence: float = Field(ge=0.5, le=1.0)
    rationale: str = ""

    @field_validator("label", mode="before")
    @classmethod
    def _label(cls, value: Any) -> int:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int) and value in (0, 1):
            return value
        word = str(value).strip().lower()
        if word in _GREEN:
            return 1
        if word in _NOT_GREEN:
            return 0
        raise ValueError("label must be 'green' or 'not green'")

    @property
    def p_green(self) -> float:
        return self.confidence if self.label == 1 else 1.0 - self.confidence


def _json_object(text: str) -> str:
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    return text[start : end + 1]


def parse_judge_answer(text: str) -> JudgeAnswer:
    """The validated answer, or ValueError with a short reason (fed back in the repair request)."""
    try:
        payload = json.loads(_json_object(text))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from exc
    if not isinstance(payload, dict):
        raise ValueError("the JSON is not an object")
    try:
        return JudgeAnswer.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        raise ValueError(f"{where}: {first['msg']}") from exc


async def judge_by_json(
    ask: Ask,
    messages: list[ChatMessage],
    *,
    retries: int,
    method: str = "json",
    prompt: str | None = None,
    claim_truncated: bool = False,
) -> Verdict:
    """Ask, validate, repair up to `retries` times; an unreadable verdict if nothing valid came back."""
    conversation = list(messages)
    reply = ""
    reason = ""
    for attempt in range(retries + 1):
        reply = await ask(conversation)
        try:
            answer = parse_judge_answer(reply)
        except ValueError as exc:
            reason = str(exc)
            conversation = [
                *conversation,
                {"role": "assistant", "content": reply},
                {"role": "user", "content": judge_prompts.JUDGE_JSON_REPAIR.format(error=reason)},
            ]
            continue
        return Verdict.from_p_green(
            answer.p_green,
            rationale=answer.rationale.strip(),
            method=method if attempt == 0 else f"{method}+repair",
            prompt=prompt,
            claim_truncated=claim_truncated,
        )
    return Verdict(
        confidence=0.0,
        readable=False,
        unreadable_reason=(
            f"the Judge's answer was not a valid verdict after {retries + 1} attempt(s): {reason}; "
            f"last reply: {prompt_excerpt(reply, _REPLY_QUOTED)!r}"
        ),
        method=method,
        prompt=prompt,
        claim_truncated=claim_truncated,
    )
