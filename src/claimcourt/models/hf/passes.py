"""A role's batch through the GPU for the hf profile: cut into memory-sized passes (`memory`), each pass
run by `engine` (generation, the Judge's scoring) or, for a claim's Advocate and Skeptic over one copy of
their shared prefix, by `decode.shared_prefix`. Each pass's `DecodePlan` is resolved here, once, from the
settings and the loaded model, and handed down. Rows in, each row's new token ids (or the Judge's label
logits and rationale) out, in the caller's order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from claimcourt.config import HFSettings
from claimcourt.models.hf import engine as hf_engine
from claimcourt.models.hf.cuda import empty_cuda_cache
from claimcourt.models.hf.decode import shared_prefix as hf_shared_prefix
from claimcourt.models.hf.decode.plan import DecodePlan, static_cache_fits
from claimcourt.models.hf.engine import JudgeOutput
from claimcourt.models.hf.loading import LoadedModel
from claimcourt.models.hf.memory import BatchStats, MemoryPlanner, run_in_chunks


class Passes:
    def __init__(self, settings: HFSettings, planner: MemoryPlanner) -> None:
        self.settings = settings
        self.planner = planner
        # What the settings ask of every pass; `_chunked` resolves it for each pass's model and length.
        self.plan = DecodePlan.from_settings(settings)

    def generate(
        self, loaded: LoadedModel, adapter: str | None, rows: list[list[int]], new_tokens: int, stats: BatchStats
    ) -> list[list[int]]:
        """Plain generation for a role (its adapter on, or off for None)."""

        def run_chunk(chunk: list[list[int]], plan: DecodePlan) -> list[list[int]]:
            with loaded.role(adapter) as model:
                return hf_engine.generate_texts(model, loaded, chunk, max_new_tokens=new_tokens, plan=plan)

        return self._chunked(loaded, rows, [len(r) for r in rows], new_tokens, run_chunk, stats)

    def debate(
        self,
        loaded: LoadedModel,
        adapter: str | None,
        claims: list[tuple[str, str]],
        rows: list[list[int]],
        stats: BatchStats,
    ) -> list[list[int]]:
        """Each debater row's new token ids (`claims`: each row's claim id and text): a claim's Advocate
        and Skeptic over one copy of their shared prefix where the decode path allows it
        (decode.shared_prefix), any other row on its own."""
        new_tokens = self.settings.debater_max_new_tokens
        groups: list[list[int]] = []
        alone = list(range(len(rows)))
        if self.plan.for_pass(loaded, 0).shares_prefix:
            # A claim's roles, while its row (prompt columns and both lanes' new tokens) stays inside
            # a sliding window, where the static cache never rolls.
            groups, alone = hf_shared_prefix.share_groups(
                claims,
                rows,
                fits=lambda width: static_cache_fits(loaded.config, width + 2 * new_tokens),
            )
        outputs: list[Any] = [None] * len(rows)
        if groups:
            stop_ids = hf_engine.stop_token_ids(loaded)

            def run_groups(chunk: list[list[int]], plan: DecodePlan) -> list[list[list[int]]]:
                with loaded.role(adapter) as model:
                    grouped = [[rows[i] for i in g] for g in chunk]
                    return hf_shared_prefix.decode_shared(
                        model,
                        loaded,
                        grouped,
                        max_new_tokens=new_tokens,
                        stop_ids=stop_ids,
                        plan=plan,
                    )

            widths = [hf_shared_prefix.group_width([rows[i] for i in g]) for g in groups]
            decoded = self._chunked(loaded, groups, widths, new_tokens, run_groups, stats, lanes=2)
            for group, lanes in zip(groups, decoded, strict=True):
                for i, tokens in zip(group, lanes, strict=True):
                    outputs[i] = tokens
        if alone:
            plain = self.generate(loaded, adapter, [rows[i] for i in alone], new_tokens, stats)
            for i, tokens in zip(alone, plain, strict=True):
                outputs[i] = tokens
        return outputs

    def judge(
        self,
        loaded: LoadedModel,
        adapter: str | None,
        rows: list[list[int]],
        *,
        label_ids: tuple[int, int],
        header_ids: list[int],
        stats: BatchStats,
    ) -> list[JudgeOutput]:
        """The Judge's label logits for each row and, with hf.judge_rationale_tokens, its rationale after
        the answer and `header_ids`."""
        rationale_tokens = self.settings.judge_rationale_tokens
        new_tokens = 1 + len(header_ids) + rationale_tokens if rationale_tokens else 0

        def run_chunk(chunk: list[list[int]], plan: DecodePlan) -> list[JudgeOutput]:
            with loaded.role(adapter) as model:
                return hf_engine.judge_rows(
                    model,
                    loaded,
                    chunk,
                    label_ids=label_ids,
                    header_ids=header_ids,
                    rationale_tokens=rationale_tokens,
                    plan=plan,
                )

        lengths = [len(r) for r in rows]
        return self._chunked(loaded, rows, lengths, new_tokens, run_chunk, stats, graphed=rationale_tokens > 0)

    def _chunked(
        self,
        loaded: LoadedModel,
        items: list[Any],
        lengths: list[int],
        new_tokens: int,
        run_chunk: Callable[[list[Any], DecodePlan], list[Any]],
        stats: BatchStats,
        lanes: int = 1,
        graphed: bool = True,
    ) -> list[Any]:
        """`run_chunk(chunk, plan)` over memory-sized passes, each with its plan resolved for the pass
        (`graphed` False: no pass decodes in the graphed loop). Where a pass is graphed, its prefill runs
        in slices of `plan.prefill_tokens` prompt tokens: hf.prefill_tokens, grown into the memory the
        pass's rows leave (MemoryPlanner.prefill_tokens_for)."""
        asked = self.plan if graphed else replace(self.plan, graphed=False)

        def plan_for(longest: int) -> DecodePlan:
            return asked.for_pass(loaded, longest + lanes * new_tokens)

        def rows_for(longest: int) -> int:
            plan = plan_for(longest)
            prefill_tokens = plan.prefill_tokens if plan.graphed else None
            return self.planner.rows_for(loaded, longest, new_tokens, lanes, prefill_tokens=prefill_tokens)

        def run_planned(chunk: list[tuple[Any, int]]) -> list[Any]:
            longest = max(length for _, length in chunk)
            plan = plan_for(longest)
            if plan.graphed and plan.prefill_tokens:
                grown = self.planner.prefill_tokens_for(
                    loaded, len(chunk), longest, new_tokens, lanes, configured=plan.prefill_tokens
                )
                plan = replace(plan, prefill_tokens=grown)
            return run_chunk([item for item, _ in chunk], plan)

        return run_in_chunks(
            list(zip(items, lengths, strict=True)),
            lengths=lengths,
            rows_for=rows_for,
            on_oom=lambda size: self.planner.cap_after_oom(loaded.model_id, size),
            run_chunk=run_planned,
            stats=stats,
            empty_cache=empty_cuda_cache,
            lanes=lanes,
        )
