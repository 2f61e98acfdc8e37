"""The hf profile's prompts: what the Advocate, the Skeptic and the Judge read, rendered through the
model's own chat template (the debaters) or the Judge adapter's instruction format, and tokenised.

Texts are cut by tokens, not characters, through a memo shared by the roles (neighbours recur across
claims, and every claim is read by three roles), each batch's missing texts in one batched tokenizer
call. A `PromptRenderer` may be called from several threads (the render stage, the JSON Judge on the
event loop), hence its lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from claimcourt.config import HFSettings
from claimcourt.errors import BackendError
from claimcourt.models.hf.loading import LoadedModel
from claimcourt.models.judge_json import ChatMessage
from claimcourt.prompts import evidence, roles
from claimcourt.prompts import judge as judge_prompts
from claimcourt.prompts.roles import RolePrompts
from claimcourt.state import Argument, ClaimState, Neighbour, Role

_TRUNCATION_MEMO = 16_384
_PLAIN_CHAT = "{system}### Instruction:\n{content}\n### Response:\n"


def truncate_tokens(tokenizer: Any, texts: list[str], limit: int) -> list[tuple[str, bool]]:
    """Each text cut to `limit` tokens of this tokenizer (not characters), and whether it was cut; in one
    batched tokenizer call (the fast tokenizers encode a batch on several threads; a call per text cost
    ~0.5 ms each, most of a 512-prompt render)."""
    if not texts:
        return []
    out = []
    for text, ids in zip(texts, tokenizer(texts, add_special_tokens=False).input_ids, strict=True):
        if len(ids) <= limit:
            out.append((text, False))
        else:
            out.append((tokenizer.decode(ids[:limit], skip_special_tokens=True).rstrip() + " […]", True))
    return out


def chat_text(tokenizer: Any, messages: list[ChatMessage]) -> str:
    """A conversation through the model's own chat template, ready for the reply. A tokenizer
    without a chat template (a base model) gets a plain instruction format."""
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    system = "".join(m["content"] + "\n\n" for m in messages if m["role"] == "system")
    text = ""
    for m in (m for m in messages if m["role"] != "system"):
        if m["role"] == "user":
            text += _PLAIN_CHAT.format(system=system if not text else "", content=m["content"])
        else:
            text += m["content"] + "\n"
    return text


def encode_chat_texts(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of rendered conversations, in one batched call. The template decides the special
    tokens; BOS is added only where the template leaves it out but the tokenizer would add it to plain
    text (as Phi-3's template does)."""
    rows = [list(ids) for ids in tokenizer(texts, add_special_tokens=False).input_ids]
    bos = tokenizer.bos_token_id
    if bos is not None:
        plain = tokenizer("x").input_ids
        if plain and plain[0] == bos:
            rows = [row if row[:1] == [bos] else [bos, *row] for row in rows]
    return rows


def label_token_ids(tokenizer: Any) -> tuple[int, int]:
    """The first token of ' YES' and of ' NO' right after '### Answer:', as this tokenizer splits them."""
    stem = "### Answer:"
    base = tokenizer(stem, add_special_tokens=False).input_ids
    picked = []
    for word in (judge_prompts.JUDGE_YES, judge_prompts.JUDGE_NO):
        ids = tokenizer(stem + word, add_special_tokens=False).input_ids
        if ids[: len(base)] != base or len(ids) == len(base):
            raise BackendError(f"the judge tokenizer does not split '{stem}{word}' after '{stem}'")
        picked.append(ids[len(base)])
    if picked[0] == picked[1]:
        raise BackendError("the judge tokenizer gives YES and NO the same first token")
    return picked[0], picked[1]


def continuation_ids(tokenizer: Any, prefix: str, suffix: str) -> list[int]:
    """Token ids `suffix` adds after `prefix` (tokenised in context, so merges are right)."""
    base = tokenizer(prefix, add_special_tokens=False).input_ids
    full = tokenizer(prefix + suffix, add_special_tokens=False).input_ids
    if full[: len(base)] == base:
        return list(full[len(base) :])
    return list(tokenizer(suffix, add_special_tokens=False).input_ids)


def judge_header_ids(tokenizer: Any) -> list[int]:
    """The rationale header's token ids as they follow the Judge's answer (forced after it)."""
    return continuation_ids(tokenizer, "### Answer:" + judge_prompts.JUDGE_YES, judge_prompts.JUDGE_RATIONALE_HEADER)


@dataclass(frozen=True)
class ArgueRequest:
    role: Role
    state: ClaimState


@dataclass(frozen=True)
class Rendered:
    ids: list[int]
    text: str
    claim_truncated: bool


class PromptRenderer:
    """Renders and tokenises the roles' prompts for the hf profile's settings."""

    def __init__(self, settings: HFSettings, prompts: RolePrompts = roles.LLM) -> None:
        self.settings = settings
        self.prompts = prompts
        self._truncated: OrderedDict[tuple[int, str, int], tuple[str, bool]] = OrderedDict()
        self._truncated_lock = threading.Lock()

    @property
    def _judge_neighbour_tokens(self) -> int:
        return self.settings.judge_neighbour_max_tokens or self.settings.neighbour_max_tokens

    def _truncate(self, tokenizer: Any, text: str, limit: int) -> tuple[str, bool]:
        return self._truncate_many(tokenizer, [(text, limit)])[0]

    def _truncate_many(self, tokenizer: Any, wanted: list[tuple[str, int]]) -> list[tuple[str, bool]]:
        """Each (text, limit) cut to its limit, through the memo; the texts the memo lacks in one batched
        tokenizer call per limit (a batch's prompts fill it ahead, so each prompt then only reads it)."""
        found: dict[tuple[str, int], tuple[str, bool]] = {}
        missing: dict[int, list[str]] = {}
        with self._truncated_lock:  # see the module doc: several threads render
            for text, limit in wanted:
                hit = self._truncated.get((id(tokenizer), text, limit))
                if hit is not None:
                    found[(text, limit)] = hit
                elif (text, limit) not in found:
                    missing.setdefault(limit, []).append(text)
        for limit, texts in missing.items():
            unique = list(dict.fromkeys(texts))
            for text, cut in zip(unique, truncate_tokens(tokenizer, unique, limit), strict=True):
                found[(text, limit)] = cut
            with self._truncated_lock:
                for text in unique:
                    self._truncated[(id(tokenizer), text, limit)] = found[(text, limit)]
                while len(self._truncated) > _TRUNCATION_MEMO:
                    self._truncated.popitem(last=False)
        return [found[item] for item in wanted]

    def _precedents(self, tokenizer: Any, neighbours: list[Neighbour], limit: int) -> str:
        cut = [self._truncate(tokenizer, evidence.fold_whitespace(n.text), limit)[0] for n in neighbours]
        rows = [(n.label, n.named, n.similarity, text) for n, text in zip(neighbours, cut, strict=True)]
        return evidence.precedent_lines(rows)

    def _debate_context(self, tokenizer: Any, state: ClaimState) -> tuple[str, bool]:
        claim, truncated = self._truncate(tokenizer, state.text, self.settings.claim_max_tokens)
        precedents = self._precedents(tokenizer, state.neighbours, self.settings.neighbour_max_tokens)
        return evidence.debate_context(precedents, claim), truncated

    def argue_message(
        self, tokenizer: Any, role: Role, state: ClaimState, context: tuple[str, bool] | None = None
    ) -> tuple[str, bool]:
        """The user message for a debater: the shared context (claim, precedents), then the role's task.
        `context`: the claim's `_debate_context`, where the caller already built it for the other role."""
        context_text, truncated = context or self._debate_context(tokenizer, state)
        template = self.prompts.advocate if role == "advocate" else self.prompts.skeptic
        # Roughly 0.75 words per token keeps the argument inside the generation budget.
        task = template.format(words=max(10, int(self.settings.debater_max_new_tokens * 0.6)))
        return context_text + "\n" + task, truncated

    def render_argue(self, loaded: LoadedModel, requests: list[ArgueRequest]) -> list[Rendered]:
        tokenizer = loaded.tokenizer
        s = self.settings
        states = list({id(r.state): r.state for r in requests}.values())
        self._truncate_many(
            tokenizer,
            [(st.text, s.claim_max_tokens) for st in states]
            + [(evidence.fold_whitespace(n.text), s.neighbour_max_tokens) for st in states for n in st.neighbours],
        )
        contexts = {id(st): self._debate_context(tokenizer, st) for st in states}  # once for both roles
        texts, flags = [], []
        for request in requests:
            context = contexts[id(request.state)]
            message, truncated = self.argue_message(tokenizer, request.role, request.state, context)
            texts.append(chat_text(tokenizer, [{"role": "user", "content": message}]))
            flags.append(truncated)
        ids = encode_chat_texts(tokenizer, texts)
        return [Rendered(row, text, flag) for row, text, flag in zip(ids, texts, flags, strict=True)]

    def _argument_excerpt(self, tokenizer: Any, argument: Argument | None) -> str | None:
        if argument is None or not argument.text.strip():
            return None
        return self._truncate(tokenizer, argument.text.strip(), self.settings.debater_max_new_tokens)[0]

    def render_judge(self, loaded: LoadedModel, states: list[ClaimState]) -> list[Rendered]:
        tokenizer = loaded.tokenizer
        s = self.settings
        arguments = [
            a.text.strip() for st in states for a in (st.advocate, st.skeptic) if a is not None and a.text.strip()
        ]
        self._truncate_many(
            tokenizer,
            [(st.text, s.claim_max_tokens) for st in states]
            + [(evidence.fold_whitespace(n.text), self._judge_neighbour_tokens) for st in states for n in st.neighbours]
            + [(text, s.debater_max_new_tokens) for text in arguments],
        )
        texts, flags = [], []
        for state in states:
            claim, truncated = self._truncate(tokenizer, state.text, self.settings.claim_max_tokens)
            texts.append(
                judge_prompts.judge_prompt(
                    precedents=self._precedents(tokenizer, state.neighbours, self._judge_neighbour_tokens),
                    advocate=self._argument_excerpt(tokenizer, state.advocate),
                    skeptic=self._argument_excerpt(tokenizer, state.skeptic),
                    claim=claim,
                    task=self.prompts.judge or judge_prompts.JUDGE_TASK,
                )
            )
            flags.append(truncated)
        # Plain text with the tokenizer's own special tokens (BOS), as the adapter was trained.
        ids = tokenizer(texts).input_ids
        return [Rendered(list(row), text, flag) for row, text, flag in zip(ids, texts, flags, strict=True)]

    def render_judge_json(self, loaded: LoadedModel, state: ClaimState) -> tuple[list[ChatMessage], bool]:
        tokenizer = loaded.tokenizer
        context, truncated = self._debate_context(tokenizer, state)
        task = judge_prompts.judge_json_task(
            advocate=self._argument_excerpt(tokenizer, state.advocate),
            skeptic=self._argument_excerpt(tokenizer, state.skeptic),
        )
        return [{"role": "user", "content": context + "\n" + task}], truncated
