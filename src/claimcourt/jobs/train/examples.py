"""Training examples in the Judge's own instruction format.

The prompt of every example is rendered by the hf profile's `PromptRenderer.render_judge`, the code
that renders the Judge's prompt at inference: the same template, the claim cut to the same number of
tokens, the same special tokens. A training claim has no debate, so its prompt is the one the Judge
reads for a claim without precedents or arguments. The target is the first token of ' YES' or ' NO'
at the answer position (`label_token_ids`), where inference reads P(YES) and P(NO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claimcourt.config import HFSettings
from claimcourt.jobs.train.data import TrainingRow
from claimcourt.models.hf.loading import LoadedModel
from claimcourt.models.hf.prompts import PromptRenderer, Rendered, label_token_ids
from claimcourt.state import ClaimState

_RENDER_CHUNK = 512


def claim_state(row: TrainingRow) -> ClaimState:
    return ClaimState(claim_id=row.id, text=row.text)


def render_prompts(settings: HFSettings, tokenizer: Any, rows: list[TrainingRow]) -> list[Rendered]:
    """The Judge's prompts for these claims, as inference renders them."""
    renderer = PromptRenderer(settings)
    loaded = LoadedModel(model_id=settings.judge_model, model=None, tokenizer=tokenizer)
    out: list[Rendered] = []
    for start in range(0, len(rows), _RENDER_CHUNK):
        out.extend(renderer.render_judge(loaded, [claim_state(r) for r in rows[start : start + _RENDER_CHUNK]]))
    return out


@dataclass(frozen=True)
class Example:
    ids: list[int]  # the prompt, ending at '### Answer:'
    answer: int  # the token id of ' YES' or ' NO'
    weight: float
    label: int


def build_examples(
    settings: HFSettings, tokenizer: Any, rows: list[TrainingRow], *, gold_weight: float
) -> list[Example]:
    yes, no = label_token_ids(tokenizer)
    prompts = render_prompts(settings, tokenizer, rows)
    return [
        Example(p.ids, yes if r.label == 1 else no, gold_weight if r.human else 1.0, r.label)
        for p, r in zip(prompts, rows, strict=True)
    ]


class Collator:
    """A batch of examples, left-padded as the Judge's passes pad them (the answer position is the last
    column of every row); counts the tokens it hands out, for the tokens/s figure."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id
        self.tokens = 0

    def __call__(self, examples: list[Example]) -> dict[str, Any]:
        import torch

        width = max(len(e.ids) for e in examples)
        ids = torch.full((len(examples), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for i, e in enumerate(examples):
            ids[i, width - len(e.ids) :] = torch.tensor(e.ids, dtype=torch.long)
            mask[i, width - len(e.ids) :] = 1
        self.tokens += int(mask.sum())
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "answer": torch.tensor([e.answer for e in examples], dtype=torch.long),
            "weight": torch.tensor([e.weight for e in examples], dtype=torch.float32),
        }
