"""The hf profile: local transformers models, 4-bit, batched across claims underneath the graph.

The Advocate and the Skeptic run the debater model (Phi-3-mini by default) through its chat template;
the Judge runs its base model (Mistral-7B) with its QLoRA adapter in the adapter's own instruction
format, and its p_green is read from its logits: P(YES) / (P(YES) + P(NO)) at the answer position, one
forward pass, before any text is generated. The rationale is generated after the label, in the same
pass over the prompt, within `judge_rationale_tokens`.

The graph stays one thread per claim. Every `argue` and `judge` call is a single-claim await that goes
through two `MicroBatcher` stages: the first renders and tokenises the prompts of whatever requests
have arrived, on a thread of its own, so that work is done while the second stage still gathers (as
retrieval finishes claim by claim) or while a pass runs; the second gathers the rendered prompts into
batched forward passes (Advocate and Skeptic requests of many claims share one batch), which
`hf_engine` sizes to the GPU memory budget. Models load on first use (see `hf_loading`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from claimcourt.batching import MicroBatcher
from claimcourt.config import HFSettings
from claimcourt.errors import BackendError
from claimcourt.models import hf_decode, hf_engine, hf_shared_prefix
from claimcourt.models.hf_engine import BatchStats, MemoryPlanner, run_in_chunks
from claimcourt.models.hf_loading import (
    DEBATER_ADAPTER,
    JUDGE_ADAPTER,
    LoadedModel,
    ModelRegistry,
    check_settings,
    parse_memory,
)
from claimcourt.models.judge_json import ChatMessage, judge_by_json
from claimcourt.prompts import advocate as advocate_prompts
from claimcourt.prompts import evidence
from claimcourt.prompts import judge as judge_prompts
from claimcourt.prompts import skeptic as skeptic_prompts
from claimcourt.state import Argument, ClaimState, Neighbour, Role, Verdict

BACKEND_NAME = "hf"
log = logging.getLogger(__name__)
# Requests gathered per batched call; the memory planner then cuts them into forward passes.
_GATHER_FACTOR = 4
_GATHER_WAIT_S = 0.01
_GATHER_QUIET_S = 0.25
_GATHER_LINGER_S = 2.0
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


def cited_ids(text: str, neighbours: list[Neighbour]) -> list[str]:
    return [n.id for n in neighbours if n.id and n.id in text]


@dataclass(frozen=True)
class _ArgueRequest:
    role: Role
    state: ClaimState


@dataclass(frozen=True)
class _Rendered:
    ids: list[int]
    text: str
    claim_truncated: bool


class HFBackend:
    """Local models; `argue` and `judge` are batched across concurrent claims."""

    name = BACKEND_NAME

    def __init__(
        self, settings: HFSettings, *, registry: ModelRegistry | None = None, claims_at_once: int | None = None
    ) -> None:
        """`claims_at_once`: the most claims that call this backend at once (a run's `max_concurrency`);
        a gather that holds a request from each of them starts its pass without waiting for more."""
        self.settings = settings
        self.registry = registry or ModelRegistry(settings)
        budget = parse_memory(settings.gpu_memory) if settings.gpu_memory else None
        self.planner = MemoryPlanner(
            budget_bytes=budget, max_batch=settings.max_batch_size, dtype=settings.compute_dtype
        )
        self.stats: dict[str, BatchStats] = {"debater": BatchStats(), "judge": BatchStats(), "judge_json": BatchStats()}
        gather = settings.max_batch_size * _GATHER_FACTOR
        # Prompts are rendered on their own thread, ahead of the passes (see the module doc).
        render_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claimcourt-render")
        self._argue_render: MicroBatcher[_ArgueRequest, _Rendered] = MicroBatcher(
            self._render_argue_batch, max_batch=gather, thread=render_thread
        )
        self._judge_render: MicroBatcher[ClaimState, _Rendered] = MicroBatcher(
            self._render_judge_batch, max_batch=gather, thread=render_thread
        )
        self._argue_batcher: MicroBatcher[tuple[_ArgueRequest, _Rendered], Argument] = MicroBatcher(
            self._argue_batch,
            max_batch=gather,
            max_wait_s=_GATHER_WAIT_S,
            linger_s=_GATHER_LINGER_S,
            quiet_s=_GATHER_QUIET_S,
            most_waiting=2 * claims_at_once if claims_at_once else None,  # the Advocate's and the Skeptic's
            feeder=self._argue_render,
        )
        self._judge_batcher: MicroBatcher[tuple[ClaimState, _Rendered], Verdict] = MicroBatcher(
            self._judge_batch,
            max_batch=gather,
            max_wait_s=_GATHER_WAIT_S,
            linger_s=_GATHER_LINGER_S,
            quiet_s=_GATHER_QUIET_S,
            most_waiting=claims_at_once,
            feeder=self._judge_render,
        )
        self._chat_batcher: MicroBatcher[list[ChatMessage], str] = MicroBatcher(
            self._chat_batch,
            max_batch=gather,
            max_wait_s=_GATHER_WAIT_S,
            linger_s=_GATHER_LINGER_S,
            quiet_s=_GATHER_QUIET_S,
            most_waiting=claims_at_once,
        )
        self._device_ready = False
        # Neighbours recur across claims and every claim is read by three roles: truncate each text once.
        self._truncated: OrderedDict[tuple[int, str, int], tuple[str, bool]] = OrderedDict()
        self._truncated_lock = threading.Lock()

    # --- the DebateBackend interface ---------------------------------------------------------------

    def check_ready(self) -> None:
        check_settings(self.settings)

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        request = _ArgueRequest(role, state)
        return await self._argue_batcher.submit((request, await self._argue_render.submit(request)))

    async def judge(self, state: ClaimState) -> Verdict:
        if self.settings.judge_mode == "json":
            return await self._judge_json(state)
        return await self._judge_batcher.submit((state, await self._judge_render.submit(state)))

    # --- loading ----------------------------------------------------------------------------------

    def load(self) -> None:
        """Load every model now (a benchmark or a server warms up; a run loads on first use)."""
        self._debater_model()
        self._judge_model()

    def _prepare_device(self) -> None:
        if self._device_ready:
            return
        import torch

        if torch.cuda.is_available():
            # The budget is a hard cap, not only an estimate: past it the allocator raises OOM, which
            # halves the batch (hf_engine), instead of quietly taking the rest of the card.
            total = torch.cuda.get_device_properties(0).total_memory
            budget = self.planner.budget_bytes
            torch.cuda.set_per_process_memory_fraction(min(1.0, budget / total) if budget else 1.0)
        self._device_ready = True

    def _debater_model(self) -> LoadedModel:
        self._prepare_device()
        return self.registry.get(self.settings.debater_model)

    def _judge_model(self) -> LoadedModel:
        self._prepare_device()
        return self.registry.get(self.settings.judge_model)

    @property
    def _judge_neighbour_tokens(self) -> int:
        return self.settings.judge_neighbour_max_tokens or self.settings.neighbour_max_tokens

    @property
    def _debater_adapter(self) -> str | None:
        return DEBATER_ADAPTER if self.settings.debater_adapter else None

    @property
    def _judge_adapter(self) -> str | None:
        return JUDGE_ADAPTER if self.settings.judge_adapter else None

    def _generate(
        self,
        loaded: LoadedModel,
        adapter: str | None,
        rendered: list[_Rendered],
        new_tokens: int,
        stats: BatchStats,
    ) -> list[Any]:
        """Plain generation for a role (its adapter on, or off for None), in memory-sized passes."""

        def run_chunk(chunk: list[_Rendered]) -> list[list[int]]:
            with loaded.role(adapter) as model:
                return hf_engine.generate_texts(
                    model,
                    loaded,
                    [r.ids for r in chunk],
                    max_new_tokens=new_tokens,
                    cache_implementation=self.settings.cache_implementation,
                    decode=self.settings.decode,
                    prefill_tokens=self.settings.prefill_tokens,
                )

        return self._chunked(loaded, rendered, [len(r.ids) for r in rendered], new_tokens, run_chunk, stats)

    def _debate_outputs(
        self, loaded: LoadedModel, requests: list[_ArgueRequest], rendered: list[_Rendered]
    ) -> list[list[int]]:
        """Each debater row's new token ids: a claim's Advocate and Skeptic over one copy of their
        shared prefix where the decode path allows it (hf_shared_prefix), any other row on its own."""
        new_tokens = self.settings.debater_max_new_tokens
        stats = self.stats["debater"]
        rows = [r.ids for r in rendered]
        groups: list[list[int]] = []
        alone = list(range(len(rows)))
        if self._shares_prefix(loaded):
            # A claim's roles, while its row (prompt columns and both lanes' new tokens) stays inside
            # a sliding window, where the static cache never rolls.
            groups, alone = hf_shared_prefix.share_groups(
                [(r.state.claim_id, r.state.text) for r in requests],
                rows,
                fits=lambda width: hf_decode.static_cache_fits(loaded.config, width + 2 * new_tokens),
            )
        outputs: list[Any] = [None] * len(rows)
        if groups:
            stop_ids = hf_engine.stop_token_ids(loaded)

            def run_groups(chunk: list[list[int]]) -> list[list[list[int]]]:
                with loaded.role(self._debater_adapter) as model:
                    grouped = [[rows[i] for i in g] for g in chunk]
                    return hf_shared_prefix.decode_shared(
                        model,
                        loaded,
                        grouped,
                        max_new_tokens=new_tokens,
                        stop_ids=stop_ids,
                        prefill_tokens=self.settings.prefill_tokens,
                    )

            widths = [hf_shared_prefix.group_width([rows[i] for i in g]) for g in groups]
            decoded = self._chunked(loaded, groups, widths, new_tokens, run_groups, stats, lanes=2)
            for group, lanes in zip(groups, decoded, strict=True):
                for i, tokens in zip(group, lanes, strict=True):
                    outputs[i] = tokens
        if alone:
            plain = self._generate(loaded, self._debater_adapter, [rendered[i] for i in alone], new_tokens, stats)
            for i, tokens in zip(alone, plain, strict=True):
                outputs[i] = tokens
        return outputs

    def _shares_prefix(self, loaded: LoadedModel) -> bool:
        s = self.settings
        # Each group's window is checked by share_groups; the rest is the graphed decode's conditions.
        return s.shared_prefix and hf_engine.uses_graphed_decode(loaded, s.decode, s.cache_implementation, 0)

    def _chunked(
        self,
        loaded: LoadedModel,
        items: list[Any],
        lengths: list[int],
        new_tokens: int,
        run_chunk: Any,
        stats: BatchStats,
        lanes: int = 1,
        graphed: bool = True,
    ) -> list[Any]:
        """run_chunk over memory-sized passes; `graphed`: the passes run hf_decode's loop wherever the
        settings and the pass's length allow it (then the prefill runs in slices, see hf_decode)."""
        s = self.settings

        def rows_for(longest: int) -> int:
            total = longest + lanes * new_tokens
            sliced = graphed and hf_engine.uses_graphed_decode(loaded, s.decode, s.cache_implementation, total)
            prefill_tokens = s.prefill_tokens if sliced else None
            return self.planner.rows_for(loaded, longest, new_tokens, lanes, prefill_tokens=prefill_tokens)

        return run_in_chunks(
            items,
            lengths=lengths,
            rows_for=rows_for,
            on_oom=lambda size: self.planner.cap_after_oom(loaded.model_id, size),
            run_chunk=run_chunk,
            stats=stats,
            empty_cache=hf_engine.empty_cuda_cache,
            lanes=lanes,
        )

    # --- prompts ----------------------------------------------------------------------------------

    def _truncate(self, tokenizer: Any, text: str, limit: int) -> tuple[str, bool]:
        return self._truncate_many(tokenizer, [(text, limit)])[0]

    def _truncate_many(self, tokenizer: Any, wanted: list[tuple[str, int]]) -> list[tuple[str, bool]]:
        """Each (text, limit) cut to its limit, through the memo; the texts the memo lacks in one batched
        tokenizer call per limit (a batch's prompts fill it ahead, so each prompt then only reads it)."""
        found: dict[tuple[str, int], tuple[str, bool]] = {}
        missing: dict[int, list[str]] = {}
        with self._truncated_lock:  # the debater and Judge batches render in two worker threads
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
        cut = [self._truncate(tokenizer, evidence.one_line(n.text), limit)[0] for n in neighbours]
        rows = [(n.label, n.id, n.similarity, text) for n, text in zip(neighbours, cut, strict=True)]
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
        template = advocate_prompts.ADVOCATE_TASK if role == "advocate" else skeptic_prompts.SKEPTIC_TASK
        # Roughly 0.75 words per token keeps the argument inside the generation budget.
        task = template.format(words=max(10, int(self.settings.debater_max_new_tokens * 0.6)))
        return context_text + "\n" + task, truncated

    def render_argue(self, loaded: LoadedModel, requests: list[_ArgueRequest]) -> list[_Rendered]:
        tokenizer = loaded.tokenizer
        s = self.settings
        states = list({id(r.state): r.state for r in requests}.values())
        self._truncate_many(
            tokenizer,
            [(st.text, s.claim_max_tokens) for st in states]
            + [(evidence.one_line(n.text), s.neighbour_max_tokens) for st in states for n in st.neighbours],
        )
        contexts = {id(st): self._debate_context(tokenizer, st) for st in states}  # once for both roles
        texts, flags = [], []
        for request in requests:
            context = contexts[id(request.state)]
            message, truncated = self.argue_message(tokenizer, request.role, request.state, context)
            texts.append(chat_text(tokenizer, [{"role": "user", "content": message}]))
            flags.append(truncated)
        ids = encode_chat_texts(tokenizer, texts)
        return [_Rendered(row, text, flag) for row, text, flag in zip(ids, texts, flags, strict=True)]

    def _argument_excerpt(self, tokenizer: Any, argument: Argument | None) -> str | None:
        if argument is None or not argument.text.strip():
            return None
        return self._truncate(tokenizer, argument.text.strip(), self.settings.debater_max_new_tokens)[0]

    def render_judge(self, loaded: LoadedModel, states: list[ClaimState]) -> list[_Rendered]:
        tokenizer = loaded.tokenizer
        s = self.settings
        arguments = [
            a.text.strip() for st in states for a in (st.advocate, st.skeptic) if a is not None and a.text.strip()
        ]
        self._truncate_many(
            tokenizer,
            [(st.text, s.claim_max_tokens) for st in states]
            + [(evidence.one_line(n.text), self._judge_neighbour_tokens) for st in states for n in st.neighbours]
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
                )
            )
            flags.append(truncated)
        # Plain text with the tokenizer's own special tokens (BOS), as the adapter was trained.
        ids = tokenizer(texts).input_ids
        return [_Rendered(list(row), text, flag) for row, text, flag in zip(ids, texts, flags, strict=True)]

    def render_judge_json(self, loaded: LoadedModel, state: ClaimState) -> tuple[list[ChatMessage], bool]:
        tokenizer = loaded.tokenizer
        context, truncated = self._debate_context(tokenizer, state)
        task = judge_prompts.judge_json_task(
            advocate=self._argument_excerpt(tokenizer, state.advocate),
            skeptic=self._argument_excerpt(tokenizer, state.skeptic),
        )
        return [{"role": "user", "content": context + "\n" + task}], truncated

    # --- batched calls (worker threads) -------------------------------------------------------------

    def _render_argue_batch(self, requests: list[_ArgueRequest]) -> list[_Rendered]:
        started = time.perf_counter()
        rendered = self.render_argue(self._debater_model(), requests)
        self._rendered("debater", len(rendered), started)
        return rendered

    def _render_judge_batch(self, states: list[ClaimState]) -> list[_Rendered]:
        started = time.perf_counter()
        rendered = self.render_judge(self._judge_model(), states)
        self._rendered("judge", len(rendered), started)
        return rendered

    def _argue_batch(self, items: list[tuple[_ArgueRequest, _Rendered]]) -> list[Argument]:
        loaded = self._debater_model()
        requests = [request for request, _ in items]
        rendered = [prompt for _, prompt in items]
        outputs = self._debate_outputs(loaded, requests, rendered)
        arguments = []
        for request, prompt, new_ids in zip(requests, rendered, outputs, strict=True):
            text = loaded.tokenizer.decode(new_ids, skip_special_tokens=True).strip()
            arguments.append(
                Argument(
                    role=request.role,
                    text=text,
                    cited=cited_ids(text, request.state.neighbours),
                    backend=BACKEND_NAME,
                    prompt=prompt.text if self.settings.record_prompts else None,
                    claim_truncated=prompt.claim_truncated,
                )
            )
        return arguments

    def _judge_batch(self, items: list[tuple[ClaimState, _Rendered]]) -> list[Verdict]:
        loaded = self._judge_model()
        tokenizer = loaded.tokenizer
        label_ids = label_token_ids(tokenizer)
        rendered = [prompt for _, prompt in items]
        rationale_tokens = self.settings.judge_rationale_tokens
        answer = judge_prompts.JUDGE_YES
        header = continuation_ids(tokenizer, "### Answer:" + answer, judge_prompts.JUDGE_RATIONALE_HEADER)
        new_tokens = 1 + len(header) + rationale_tokens if rationale_tokens else 0

        def run_chunk(chunk: list[_Rendered]) -> list[tuple[float, float, list[int]]]:
            rows = [r.ids for r in chunk]
            with loaded.role(self._judge_adapter) as model:
                if rationale_tokens == 0:
                    return [(y, n, []) for y, n in hf_engine.label_logits(model, loaded, rows, label_ids)]
                return hf_engine.judge_with_rationale(
                    model,
                    loaded,
                    rows,
                    label_ids=label_ids,
                    header_ids=header,
                    rationale_tokens=rationale_tokens,
                    cache_implementation=self.settings.cache_implementation,
                    decode=self.settings.decode,
                    prefill_tokens=self.settings.prefill_tokens,
                )

        lengths = [len(r.ids) for r in rendered]
        outputs = self._chunked(
            loaded, rendered, lengths, new_tokens, run_chunk, self.stats["judge"], graphed=rationale_tokens > 0
        )
        return [self._verdict(prompt, out, tokenizer) for prompt, out in zip(rendered, outputs, strict=True)]

    def _rendered(self, role: str, count: int, started: float) -> None:
        ended = time.perf_counter()
        self.stats[role].render_spans.append((started, ended))
        log.info("rendered %d %s prompts in %.2fs", count, role, ended - started)

    def _verdict(self, prompt: _Rendered, output: tuple[float, float, list[int]], tokenizer: Any) -> Verdict:
        yes, no, rationale_ids = output
        recorded = prompt.text if self.settings.record_prompts else None
        if not (math.isfinite(yes) and math.isfinite(no)):
            return Verdict(
                confidence=0.0,
                readable=False,
                unreadable_reason=f"the Judge's answer logits are not finite (YES {yes}, NO {no})",
                method="logits",
                prompt=recorded,
                claim_truncated=prompt.claim_truncated,
            )
        p_green = hf_engine.p_green_from_logits(yes, no)
        rationale = tokenizer.decode(rationale_ids, skip_special_tokens=True).strip() if rationale_ids else ""
        return Verdict.from_p_green(
            p_green,
            rationale=rationale or f"P(YES) / (P(YES) + P(NO)) = {p_green:.3f} at the Judge's answer position",
            method="logits",
            components={"logit_yes": round(yes, 6), "logit_no": round(no, 6)},
            prompt=recorded,
            claim_truncated=prompt.claim_truncated,
        )

    def _chat_batch(self, conversations: list[list[ChatMessage]]) -> list[str]:
        loaded = self._judge_model()
        texts = [chat_text(loaded.tokenizer, c) for c in conversations]
        ids = encode_chat_texts(loaded.tokenizer, texts)
        rendered = [_Rendered(row, text, False) for row, text in zip(ids, texts, strict=True)]
        new_tokens = self.settings.judge_json_max_new_tokens
        outputs = self._generate(loaded, self._judge_adapter, rendered, new_tokens, self.stats["judge_json"])
        return [loaded.tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in outputs]

    async def _judge_json(self, state: ClaimState) -> Verdict:
        loaded = await asyncio.to_thread(self._judge_model)
        messages, truncated = self.render_judge_json(loaded, state)
        return await judge_by_json(
            self._chat_batcher.submit,
            messages,
            retries=self.settings.judge_json_retries,
            method="json",
            prompt=messages[0]["content"] if self.settings.record_prompts else None,
            claim_truncated=truncated,
        )
