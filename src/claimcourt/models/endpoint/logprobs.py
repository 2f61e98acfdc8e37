"""The Judge's p_green from a server's log-probabilities, never guessed.

The server is asked for one new token after `### Answer:` with the top-k alternatives at that
position (the legacy completions API's `logprobs`, as vLLM, SGLang and llama.cpp's server return it:
`choices[0].logprobs.top_logprobs[0]` maps token text to log-probability). The client has no tokenizer,
so it reads every alternative whose text, without surrounding whitespace and the tokenizers' space
marks (SentencePiece '▁', byte-level 'Ġ'), is YES or NO in any case: " YES", "YES", " Yes", "yes",
"▁YES"... P(YES) and P(NO) are each the sum over their variants, and p_green = P(YES) / (P(YES) + P(NO)).

Where neither appears among the alternatives the verdict is unreadable (a person decides). Where only
one appears, the other's probability is at most the smallest probability the server returned, so that
bound is used: the confidence is never higher than the numbers allow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claimcourt.state import Verdict

_SPACE_MARKS = " \t\n▁Ġ"
_WORDS = {"yes": "yes", "no": "no"}


@dataclass(frozen=True)
class AnswerProbabilities:
    yes: float | None
    no: float | None
    smallest: float
    variants: tuple[str, ...]

    @property
    def readable(self) -> bool:
        return self.yes is not None or self.no is not None

    @property
    def p_green(self) -> float:
        yes = self.yes if self.yes is not None else self.smallest
        no = self.no if self.no is not None else self.smallest
        return yes / (yes + no)


def answer_word(token: str) -> str | None:
    return _WORDS.get(token.strip(_SPACE_MARKS).casefold())


def answer_probabilities(top: Mapping[str, float]) -> AnswerProbabilities:
    """P(YES) and P(NO) summed over their token variants among `top` (token text -> logprob)."""
    sums: dict[str, float] = {}
    variants = []
    finite = [lp for lp in top.values() if lp is not None and math.isfinite(lp)]
    for token, logprob in top.items():
        word = answer_word(token)
        if word is None or logprob is None or not math.isfinite(logprob):
            continue
        sums[word] = sums.get(word, 0.0) + math.exp(logprob)
        variants.append(token)
    smallest = math.exp(min(finite)) if finite else 0.0
    return AnswerProbabilities(sums.get("yes"), sums.get("no"), smallest, tuple(variants))


def _field(item: object, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def top_at_answer(choice: object) -> Mapping[str, float] | None:
    """The alternatives at the first generated position of a completion choice, or None if absent.
    Reads the legacy completions shape (`top_logprobs[0]`: token -> logprob; vLLM, SGLang,
    llama-cpp-python) and the chat-style one some servers return from /completions too
    (`content[0].top_logprobs`: a list of {token, logprob}; recent llama-server)."""
    logprobs = _field(choice, "logprobs")
    if logprobs is None:
        return None
    top = _field(logprobs, "top_logprobs")
    if top and top[0]:
        first = top[0]
        return first if isinstance(first, Mapping) else dict(first)
    content = _field(logprobs, "content")
    if content and _field(content[0], "top_logprobs"):
        return {str(_field(t, "token")): float(_field(t, "logprob")) for t in _field(content[0], "top_logprobs")}
    return None


def logprob_verdict(choice: object | None, *, method: str, prompt: str | None, claim_truncated: bool) -> Verdict:
    """The Judge's verdict from the completion choice at `### Answer:`; unreadable, with the reason, when
    the server's alternatives hold neither YES nor NO (or no alternatives came back)."""
    top = top_at_answer(choice) if choice is not None else None
    found = answer_probabilities(top) if top is not None else None
    if found is None or not found.readable:
        shown = ", ".join(repr(t) for t in list(top or {})[:8]) or "none returned"
        return Verdict(
            confidence=0.0,
            readable=False,
            unreadable_reason=f"neither YES nor NO among the server's top tokens at the answer ({shown})",
            method=method,
            prompt=prompt,
            claim_truncated=claim_truncated,
        )
    p_green = found.p_green
    return Verdict.from_p_green(
        p_green,
        rationale=f"P(YES) / (P(YES) + P(NO)) = {p_green:.3f} from the server's logprobs "
        f"(tokens read: {', '.join(repr(v) for v in found.variants)})",
        method=method,
        components={"p_yes": round(found.yes or 0.0, 6), "p_no": round(found.no or 0.0, 6)},
        prompt=prompt,
        claim_truncated=claim_truncated,
    )
