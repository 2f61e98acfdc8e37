"""Batched forward passes for the hf profile: generation, and the Judge's label scoring, over the rows
of one pass (`memory` sizes the passes; `decode.loop` runs the graphed loop). How a pass decodes comes
in as one `DecodePlan`, resolved for the pass (`DecodePlan.for_pass`).
"""

from __future__ import annotations

import math
from typing import Any

from claimcourt.models.hf.decode import loop as hf_decode
from claimcourt.models.hf.decode.plan import DecodePlan
from claimcourt.models.hf.loading import LoadedModel
from claimcourt.models.hf.runtime import DECODE_GENERATE

# The Judge's output for one row: its YES and NO logits and its rationale's token ids.
JudgeOutput = tuple[float, float, list[int]]


def _pad_left(rows: list[list[int]], pad_id: int, device: Any) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


def _generation_kwargs(loaded: LoadedModel, max_new_tokens: int, cache_implementation: str) -> dict[str, Any]:
    from transformers import GenerationConfig

    tokenizer = loaded.tokenizer
    eos = loaded.model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    # An explicit config: greedy, no sampling knobs inherited from a model's generation_config, so
    # outputs are reproducible and the first step's scores are the model's raw logits.
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        # Batch shapes change from call to call: compiling each would cost more than it saves.
        disable_compile=True,
    )
    if cache_implementation == "static":
        config.cache_implementation = "static"
    return {"generation_config": config}


def stop_token_ids(loaded: LoadedModel) -> list[int]:
    """Where a row's text ends: the model's EOS token(s), and the pad token `generate` fills in after."""
    eos = loaded.model.generation_config.eos_token_id
    if eos is None:
        eos = loaded.tokenizer.eos_token_id
    return sorted(set(eos if isinstance(eos, list) else [eos]) | {loaded.tokenizer.pad_token_id})


def generate_texts(
    model: Any,
    loaded: LoadedModel,
    rows: list[list[int]],
    *,
    max_new_tokens: int,
    plan: DecodePlan,
    logits_processor: Any = None,
) -> list[list[int]]:
    """Greedy generation for a chunk of rows: the new token ids of each row, up to EOS. Where the pass's
    plan is graphed, decode.loop's loop (`plan` resolved for this pass: `DecodePlan.for_pass`), else
    transformers' generate over the rows padded on the left."""
    import torch

    if plan.graphed:
        return hf_decode.decode_greedy(
            model, loaded, rows, max_new_tokens=max_new_tokens, stop_ids=stop_token_ids(loaded), plan=plan
        )
    loaded.runtime.record(DECODE_GENERATE)
    ids, mask = _pad_left(rows, loaded.tokenizer.pad_token_id, loaded.device)
    kwargs = _generation_kwargs(loaded, max_new_tokens, plan.cache_implementation)
    if logits_processor is not None:
        kwargs["logits_processor"] = logits_processor
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
    new = out[:, ids.shape[1] :].tolist()
    stops = set(stop_token_ids(loaded))
    trimmed = []
    for row in new:
        cut = next((k for k, tok in enumerate(row) if tok in stops), len(row))
        trimmed.append(row[:cut])
    return trimmed


def label_logits(
    model: Any, loaded: LoadedModel, rows: list[list[int]], label_ids: tuple[int, int]
) -> list[tuple[float, float]]:
    """One forward pass: the (YES, NO) logits at the last position of each row."""
    import torch

    ids, mask = _pad_left(rows, loaded.tokenizer.pad_token_id, loaded.device)
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits[:, -1, :].float()
    pair = logits[:, list(label_ids)].cpu().tolist()
    return [(float(y), float(n)) for y, n in pair]


class JudgeFormatProcessor:
    """A logits processor for the Judge's one-pass verdict and rationale.

    Step 0 (the answer position): records the raw YES and NO logits, then allows only the likelier of
    the two, so the rationale follows the Judge's own answer. Steps 1..k: forces the rationale header.
    Later steps are free. Works on a left-padded batch: every row is at the same step.
    """

    def __init__(self, prompt_width: int, label_ids: tuple[int, int], header_ids: list[int]) -> None:
        self.prompt_width = prompt_width
        self.label_ids = label_ids
        self.header_ids = header_ids
        self.label_scores: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        step = input_ids.shape[1] - self.prompt_width
        if step == 0:
            pair = scores[:, list(self.label_ids)].float()
            self.label_scores = pair.detach().clone()
            chosen = torch.tensor(self.label_ids, device=scores.device)[pair.argmax(dim=1)]
            return _force(scores, chosen)
        if step <= len(self.header_ids):
            token = self.header_ids[step - 1]
            return _force(scores, torch.full((scores.shape[0],), token, device=scores.device))
        return scores


def _force(scores: Any, tokens: Any) -> Any:
    import torch

    forced = torch.full_like(scores, -math.inf)
    forced.scatter_(1, tokens.view(-1, 1), 0.0)
    return forced


def p_green_from_logits(yes: float, no: float) -> float:
    """P(YES) / (P(YES) + P(NO)) from the two logits: the softmax over the pair, i.e. sigmoid(yes - no)."""
    diff = yes - no
    if diff >= 0:
        return 1.0 / (1.0 + math.exp(-diff))
    e = math.exp(diff)
    return e / (1.0 + e)


def judge_rows(
    model: Any,
    loaded: LoadedModel,
    rows: list[list[int]],
    *,
    label_ids: tuple[int, int],
    header_ids: list[int],
    rationale_tokens: int,
    plan: DecodePlan,
) -> list[JudgeOutput]:
    """The one Judge path, for a pass of rows (the batched backend) or one row (hf.reference): each
    row's (YES logit, NO logit, rationale token ids). With no rationale tokens, one forward pass for the
    labels; otherwise the label and the rationale after it from one prefill (`judge_with_rationale`)."""
    if rationale_tokens == 0:
        return [(y, n, []) for y, n in label_logits(model, loaded, rows, label_ids)]
    return judge_with_rationale(
        model,
        loaded,
        rows,
        label_ids=label_ids,
        header_ids=header_ids,
        rationale_tokens=rationale_tokens,
        plan=plan,
    )


def judge_with_rationale(
    model: Any,
    loaded: LoadedModel,
    rows: list[list[int]],
    *,
    label_ids: tuple[int, int],
    header_ids: list[int],
    rationale_tokens: int,
    plan: DecodePlan,
) -> list[tuple[float, float, list[int]]]:
    """One prefill for the verdict and the rationale: (YES logit, NO logit, rationale token ids); `plan`
    resolved for this pass (`DecodePlan.for_pass`)."""
    from transformers import LogitsProcessorList

    width = max(len(r) for r in rows)
    new_tokens = 1 + len(header_ids) + rationale_tokens
    if plan.graphed:
        return _judge_graphed(model, loaded, rows, label_ids, header_ids, new_tokens, plan)
    processor = JudgeFormatProcessor(width, label_ids, header_ids)
    generated = generate_texts(
        model,
        loaded,
        rows,
        max_new_tokens=new_tokens,
        plan=plan,
        logits_processor=LogitsProcessorList([processor]),
    )
    pair = processor.label_scores.cpu().tolist()
    skip = 1 + len(header_ids)
    return [(float(y), float(n), toks[skip:]) for (y, n), toks in zip(pair, generated, strict=True)]


def _judge_graphed(
    model: Any,
    loaded: LoadedModel,
    rows: list[list[int]],
    label_ids: tuple[int, int],
    header_ids: list[int],
    new_tokens: int,
    plan: DecodePlan,
) -> list[tuple[float, float, list[int]]]:
    """judge_with_rationale through decode.loop: the same three phases as JudgeFormatProcessor (record
    the pair at the answer position and keep the likelier, force the header, then greedy)."""
    import torch

    recorded: dict[str, Any] = {}

    def choose_first(logits: Any) -> Any:
        pair = logits[:, list(label_ids)].float()
        recorded["pair"] = pair
        return torch.tensor(label_ids, device=logits.device)[pair.argmax(dim=1)]

    generated = hf_decode.decode_greedy(
        model,
        loaded,
        rows,
        max_new_tokens=new_tokens,
        stop_ids=stop_token_ids(loaded),
        choose_first=choose_first,
        forced=header_ids,
        plan=plan,
    )
    pair = recorded["pair"].cpu().tolist()
    skip = 1 + len(header_ids)
    return [(float(y), float(n), toks[skip:]) for (y, n), toks in zip(pair, generated, strict=True)]
