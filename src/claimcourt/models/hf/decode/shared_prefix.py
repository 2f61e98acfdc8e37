"""Rows that share a prompt prefix decoded over one copy of it: the Advocate and the Skeptic of a claim.

Their prompts are the same bytes (chat header, precedents, the claim) up to the role's task, ~90% of
the tokens. The plain path holds that prefix twice in the KV cache and computes it twice in the
prefill. Here a claim is one cache row laid out as

    [pad | prefix | pad | Advocate's rest | pad | Skeptic's rest | generated, one slot per lane and step]

and a 4D mask says who reads what: a prefix token reads the prefix before it; a lane's token reads the
prefix and its own lane before it, never the other lane. Each lane keeps its own positions (its rest
starts where the prefix ends), so every token sees exactly the keys, values and positions it sees in
the plain path: the same computation, with the prefix's cache and prefill paid once per claim. The
lanes' rests are right-aligned in fixed columns, so every row's lane j ends in the same column and the
prefill's logits are read there. The decode loop is decode.loop's, with one query position per lane.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from claimcourt.models.hf.decode import loop as hf_decode
from claimcourt.models.hf.decode import prefill as hf_prefill
from claimcourt.models.hf.decode.plan import DEFAULT_PLAN, DecodePlan

# Below this many shared tokens a group is not worth a layout of its own.
MIN_SHARED_TOKENS = 8


def shared_prefix_len(rows: Sequence[Sequence[int]]) -> int:
    """Tokens every row starts with, leaving each row at least one token of its own (the prefill reads
    each lane's next-token logits at its last token)."""
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


@dataclass(frozen=True)
class SharedLayout:
    """One pass's rows in the shared layout (host lists; `tensors` puts them on the device)."""

    ids: list[list[int]]  # [rows, width]
    positions: list[list[int]]  # [rows, width]
    segments: list[list[int]]  # [rows, width]: -1 padding, 0 the prefix, j + 1 lane j
    lane_ends: list[int]  # the column of each lane's last prompt token, the same in every row
    next_positions: list[list[int]]  # [rows, lanes]: the position of each lane's first new token
    starts: list[int]  # each row's first real column (its prefix is padded on the left up to there)

    @property
    def width(self) -> int:
        return len(self.ids[0])

    @property
    def lanes(self) -> int:
        return len(self.lane_ends)


def layout(groups: Sequence[Sequence[list[int]]], pad_id: int, shared: Sequence[int] | None = None) -> SharedLayout:
    """Lay out groups of rows (each group: one row per lane, the same number of lanes in every group);
    `shared`: each group's shared_prefix_len, where the caller has it already."""
    lanes = len(groups[0])
    if any(len(g) != lanes for g in groups):
        raise ValueError("every group of a shared pass needs the same number of rows")
    if shared is None:
        shared = [shared_prefix_len(g) for g in groups]
    prefix_width = max(shared)
    lane_widths = [max(len(g[j]) - p for g, p in zip(groups, shared, strict=True)) for j in range(lanes)]
    starts = [prefix_width + sum(lane_widths[:j]) for j in range(lanes)]
    width = prefix_width + sum(lane_widths)
    ids, positions, segments, next_positions, row_starts = [], [], [], [], []
    for group, p in zip(groups, shared, strict=True):
        row_ids, row_pos, row_seg = [pad_id] * width, [1] * width, [-1] * width
        offset = prefix_width - p
        row_ids[offset:prefix_width] = group[0][:p]
        row_pos[offset:prefix_width] = range(p)
        row_seg[offset:prefix_width] = [0] * p
        nexts = []
        for j, row in enumerate(group):
            rest = row[p:]
            end = starts[j] + lane_widths[j]
            row_ids[end - len(rest) : end] = rest
            row_pos[end - len(rest) : end] = range(p, len(row))
            row_seg[end - len(rest) : end] = [j + 1] * len(rest)
            nexts.append(len(row))
        ids.append(row_ids)
        positions.append(row_pos)
        segments.append(row_seg)
        next_positions.append(nexts)
        row_starts.append(offset)
    lane_ends = [starts[j] + lane_widths[j] - 1 for j in range(lanes)]
    return SharedLayout(ids, positions, segments, lane_ends, next_positions, row_starts)


def prefill_mask(segments: Any, key_len: int | None = None) -> Any:
    """[rows, 1, width, key_len] bool: query t reads key u (u <= t) in the prefix or in t's own lane;
    columns past the prompt (the static cache's empty slots, `key_len` in all) are read by no one.
    A padding query reads itself only (its output is never read; a row of no keys would be NaN)."""
    import torch

    rows, width = segments.shape
    real = segments >= 0
    seg_q, seg_k = segments[:, :, None], segments[:, None, :]
    causal = torch.ones((width, width), dtype=torch.bool, device=segments.device).tril()
    mask = causal & real[:, :, None] & real[:, None, :] & ((seg_k == 0) | (seg_k == seg_q))
    mask |= torch.eye(width, dtype=torch.bool, device=segments.device) & ~real[:, :, None]
    if key_len is not None and key_len > width:
        mask = torch.cat([mask, mask.new_zeros((rows, width, key_len - width))], dim=-1)
    return mask[:, None]


def lane_visibility(segments: Any, lanes: int) -> Any:
    """[rows, lanes, width] bool: the prompt slots lane j reads while decoding (prefix and its own rest)."""
    import torch

    lane_ids = torch.arange(1, lanes + 1, device=segments.device).view(1, lanes, 1)
    seg = segments[:, None, :]
    return (seg == 0) | (seg == lane_ids)


def decode_shared(
    model: Any,
    loaded: Any,
    groups: Sequence[Sequence[list[int]]],
    *,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    plan: DecodePlan = DEFAULT_PLAN,
) -> list[list[list[int]]]:
    """Greedy generation for groups of rows that share a prefix: for each group, each row's new token
    ids, cut before its first stop token; the same tokens as hf_decode.decode_greedy on the rows. The
    prefill runs in slices of groups of at most `plan.prefill_tokens` prompt columns, each slice with its
    own part of the mask (decode.prefill.prefill_in_slices).

    The groups are laid out longest prefix first, so a slice's groups have prefixes of about one
    length, and its prefill skips the columns that are padding in all of them (a pass's prefixes are
    padded on the left to its longest; how much that saves depends on how much the claims' lengths
    differ within a pass: ~1% of the columns in the benchmark's passes, whose prefixes are all near
    the longest)."""
    import torch

    prefixes = [shared_prefix_len(g) for g in groups]
    order = sorted(range(len(groups)), key=lambda i: prefixes[i], reverse=True)
    shape = layout([groups[i] for i in order], loaded.tokenizer.pad_token_id, [prefixes[i] for i in order])
    device = loaded.device
    ids = torch.tensor(shape.ids, dtype=torch.long, device=device)
    positions = torch.tensor(shape.positions, dtype=torch.long, device=device)
    segments = torch.tensor(shape.segments, dtype=torch.long, device=device)
    lanes = shape.lanes
    cache_len = shape.width + lanes * max(max_new_tokens - 1, 1)
    lane_ends = torch.tensor(shape.lane_ends, dtype=torch.long, device=device)

    def padded_columns(part: slice) -> int:
        return min(shape.starts[part])

    def prefill(part: slice, start: int, cache: Any) -> Any:
        return model(
            input_ids=ids[part, start:],
            attention_mask=prefill_mask(segments[part], cache_len)[:, :, start:],
            position_ids=positions[part, start:],
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=lane_ends - start,
        ).logits

    with torch.inference_mode():
        cache, logits = hf_prefill.prefill_in_slices(
            loaded, len(groups), shape.width, cache_len, prefill, plan, padded_columns=padded_columns
        )
        first = logits.argmax(dim=-1)  # [rows, lanes]
        tokens = hf_decode.continue_greedy(
            model,
            loaded,
            cache,
            visible=lane_visibility(segments, lanes),
            position=torch.tensor(shape.next_positions, dtype=torch.long, device=device),
            first=first,
            cache_len=cache_len,
            max_new_tokens=max_new_tokens,
            stop_ids=stop_ids,
            plan=plan,
        )
    in_order: list[list[list[int]]] = [[] for _ in groups]
    for row, group in enumerate(order):
        in_order[group] = tokens[row]
    return in_order


def group_width(group: Sequence[list[int]]) -> int:
    """Prompt columns a group takes in the shared layout: its prefix once, each lane's rest."""
    p = shared_prefix_len(group)
    return p + sum(len(r) - p for r in group)


def share_groups(
    keys: Sequence[object],
    rows: Sequence[list[int]],
    *,
    lanes: int = 2,
    fits: Callable[[int], bool] = lambda width: True,
) -> tuple[list[list[int]], list[int]]:
    """Which rows can be decoded together: indices of rows with the same key (one claim's roles), in
    groups of `lanes` that share at least MIN_SHARED_TOKENS tokens and whose layout width `fits`; and
    the indices left to decode alone, in order."""
    by_key: dict[object, list[int]] = {}
    for i, key in enumerate(keys):
        by_key.setdefault(key, []).append(i)
    groups: list[list[int]] = []
    alone: list[int] = []
    for members in by_key.values():
        while len(members) >= lanes:
            group, members = members[:lanes], members[lanes:]
            grouped = [rows[i] for i in group]
            if shared_prefix_len(grouped) >= MIN_SHARED_TOKENS and fits(group_width(grouped)):
                groups.append(group)
            else:
                alone.extend(group)
        alone.extend(members)
    return groups, sorted(alone)
