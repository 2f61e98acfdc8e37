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
`passes` runs in passes sized to the GPU memory budget (`memory`). Models load on first use
(see `loading`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from claimcourt.batching import MicroBatcher
from claimcourt.config import HFSettings, Settings
from claimcourt.models.base import DebateBackend
from claimcourt.models.hf import engine as hf_engine
from claimcourt.models.hf.loading import (
    DEBATER_ADAPTER,
    JUDGE_ADAPTER,
    LoadedModel,
    ModelRegistry,
    check_settings,
    parse_memory,
)
from claimcourt.models.hf.memory import BatchStats, MemoryPlanner
from claimcourt.models.hf.passes import JudgeOutput, Passes
from claimcourt.models.hf.prompts import (
    ArgueRequest,
    PromptRenderer,
    Rendered,
    chat_text,
    encode_chat_texts,
    judge_header_ids,
    label_token_ids,
)
from claimcourt.models.judge_json import ChatMessage, judge_by_json
from claimcourt.models.registry import register_backend
from claimcourt.prompts import roles
from claimcourt.prompts.evidence import cited_ids
from claimcourt.prompts.roles import RolePrompts
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.state import Argument, ClaimState, Role, Verdict

BACKEND_NAME = "hf"
log = logging.getLogger(__name__)
# Requests gathered per batched call; the memory planner then cuts them into forward passes.
_GATHER_FACTOR = 4
_GATHER_WAIT_S = 0.01
_GATHER_QUIET_S = 0.25
_GATHER_LINGER_S = 2.0


class HFBackend(DebateBackend):
    """Local models; `argue` and `judge` are batched across concurrent claims."""

    name = BACKEND_NAME

    def __init__(
        self,
        settings: HFSettings,
        *,
        registry: ModelRegistry | None = None,
        claims_at_once: int | None = None,
        role_prompts: RolePrompts = roles.LLM,
    ) -> None:
        """`claims_at_once`: the most claims that call this backend at once (a run's `max_concurrency`);
        a gather that holds a request from each of them starts its pass without waiting for more.
        `registry`: loaded models to share (two backends with different `role_prompts` load them once)."""
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
        self._argue_render: MicroBatcher[ArgueRequest, Rendered] = MicroBatcher(
            self._render_argue_batch, max_batch=gather, thread=render_thread
        )
        self._judge_render: MicroBatcher[ClaimState, Rendered] = MicroBatcher(
            self._render_judge_batch, max_batch=gather, thread=render_thread
        )
        self._argue_batcher: MicroBatcher[tuple[ArgueRequest, Rendered], Argument] = MicroBatcher(
            self._argue_batch,
            max_batch=gather,
            max_wait_s=_GATHER_WAIT_S,
            linger_s=_GATHER_LINGER_S,
            quiet_s=_GATHER_QUIET_S,
            most_waiting=2 * claims_at_once if claims_at_once else None,  # the Advocate's and the Skeptic's
            feeder=self._argue_render,
        )
        self._judge_batcher: MicroBatcher[Rendered, Verdict] = MicroBatcher(
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
        self.prompts = PromptRenderer(settings, role_prompts)
        self.passes = Passes(settings, self.planner)

    # --- the DebateBackend interface ---------------------------------------------------------------

    def check_ready(self) -> None:
        check_settings(self.settings)

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        request = ArgueRequest(role, state)
        return await self._argue_batcher.submit((request, await self._argue_render.submit(request)))

    async def judge(self, state: ClaimState) -> Verdict:
        if self.settings.judge_mode == "json":
            return await self._judge_json(state)
        return await self._judge_batcher.submit(await self._judge_render.submit(state))

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
            # halves the batch (memory), instead of quietly taking the rest of the card.
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
    def _debater_adapter(self) -> str | None:
        return DEBATER_ADAPTER if self.settings.debater_adapter else None

    @property
    def _judge_adapter(self) -> str | None:
        return JUDGE_ADAPTER if self.settings.judge_adapter else None

    # --- batched calls (worker threads) -------------------------------------------------------------

    def _render_argue_batch(self, requests: list[ArgueRequest]) -> list[Rendered]:
        started = time.perf_counter()
        rendered = self.prompts.render_argue(self._debater_model(), requests)
        self._rendered("debater", len(rendered), started)
        return rendered

    def _render_judge_batch(self, states: list[ClaimState]) -> list[Rendered]:
        started = time.perf_counter()
        rendered = self.prompts.render_judge(self._judge_model(), states)
        self._rendered("judge", len(rendered), started)
        return rendered

    def _argue_batch(self, items: list[tuple[ArgueRequest, Rendered]]) -> list[Argument]:
        loaded = self._debater_model()
        requests = [request for request, _ in items]
        rendered = [prompt for _, prompt in items]
        claims = [(r.state.claim_id, r.state.text) for r in requests]
        rows = [r.ids for r in rendered]
        outputs = self.passes.debate(loaded, self._debater_adapter, claims, rows, self.stats["debater"])
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

    def _judge_batch(self, rendered: list[Rendered]) -> list[Verdict]:
        loaded = self._judge_model()
        tokenizer = loaded.tokenizer
        header = judge_header_ids(tokenizer)
        outputs = self.passes.judge(
            loaded,
            self._judge_adapter,
            [r.ids for r in rendered],
            label_ids=label_token_ids(tokenizer),
            header_ids=header,
            stats=self.stats["judge"],
        )
        return [self._verdict(prompt, out, tokenizer) for prompt, out in zip(rendered, outputs, strict=True)]

    def _rendered(self, role: str, count: int, started: float) -> None:
        ended = time.perf_counter()
        self.stats[role].render_spans.append((started, ended))
        log.info("rendered %d %s prompts in %.2fs", count, role, ended - started)

    def _verdict(self, prompt: Rendered, output: JudgeOutput, tokenizer: Any) -> Verdict:
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
        new_tokens = self.settings.judge_json_max_new_tokens
        outputs = self.passes.generate(loaded, self._judge_adapter, ids, new_tokens, self.stats["judge_json"])
        return [loaded.tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in outputs]

    async def _judge_json(self, state: ClaimState) -> Verdict:
        loaded = await asyncio.to_thread(self._judge_model)
        messages, truncated = self.prompts.render_judge_json(loaded, state)
        return await judge_by_json(
            self._chat_batcher.submit,
            messages,
            retries=self.settings.judge_json_retries,
            method="json",
            prompt=messages[0]["content"] if self.settings.record_prompts else None,
            claim_truncated=truncated,
        )


@register_backend(BACKEND_NAME, prompts_like="hf")
def build_hf_backend(
    settings: Settings, search: NeighbourSearch, prompts: RolePrompts, *, hf_models: ModelRegistry | None = None
) -> HFBackend:
    """`hf_models`: loaded models to share, so that backends differing only in prompts load them once."""
    return HFBackend(settings.hf, registry=hf_models, claims_at_once=settings.max_concurrency, role_prompts=prompts)
