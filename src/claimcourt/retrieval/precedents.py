"""People's decisions as precedents: a decided claim joins the labelled store with `source = human`.

The reviews table is the record of what people decided; the labelled store mirrors it, so later debates
retrieve the decision as a neighbour and the Judge can be refitted on it (`claimcourt learn`). A claim has
one entry in the store, keyed by its id: a person's label outranks the silver label of the same id, which
is kept underneath (`silver_label`) and comes back when the decision is undone. Where two runs decided one
claim, the latest decision counts. Setting a precedent is idempotent, so `learn` can bring the whole store
in line with the reviews table after a process died between a decision and its precedent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from claimcourt.retrieval.store import LabelledStore, text_key

# No silver label under a human precedent (the claim was never in an indexed file).
NO_SILVER = -1


@dataclass(frozen=True)
class HumanLabel:
    """A person's final decision on a claim: the label a precedent carries."""

    claim_id: str
    text: str
    label: int
    reviewer: str
    run_id: str
    decided_at: str


def latest(decisions: Iterable[HumanLabel]) -> dict[str, HumanLabel]:
    """The decision that counts for each claim id: the latest one."""
    found: dict[str, HumanLabel] = {}
    for decision in sorted(decisions, key=lambda d: d.decided_at):
        found[decision.claim_id] = decision
    return found


def _metadata(decision: HumanLabel, silver: int) -> dict[str, Any]:
    return {
        "label": int(decision.label),
        "text_key": text_key(decision.text),
        "source": "human",
        "reviewer": decision.reviewer,
        "run_id": decision.run_id,
        "decided_at": decision.decided_at,
        "silver_label": silver,
    }


def set_precedents(
    store: LabelledStore, decisions: Iterable[HumanLabel], embed: Callable[[list[str]], np.ndarray]
) -> int:
    """Make each decision the claim's precedent; returns how many entries changed. A claim already stored
    with the same text keeps its vector, so only claims new to the store are embedded."""
    wanted = latest(decisions)
    if not wanted:
        return 0
    stored = store.entries(list(wanted))
    to_embed = [
        d for d in wanted.values() if stored.get(d.claim_id, ({}, "", None))[0].get("text_key") != text_key(d.text)
    ]
    embedded = list(embed([d.text for d in to_embed])) if to_embed else []
    vectors = {d.claim_id: v for d, v in zip(to_embed, embedded, strict=True)}
    changed = 0
    for decision in wanted.values():
        meta, _, kept = stored.get(decision.claim_id, ({}, "", np.zeros(0, dtype=np.float32)))
        if meta.get("source") == "human":
            silver = int(meta.get("silver_label", NO_SILVER))
        else:
            silver = int(meta["label"]) if meta else NO_SILVER
        target = _metadata(decision, silver)
        if decision.claim_id not in vectors and all(meta.get(key) == value for key, value in target.items()):
            continue
        store.write_entry(decision.claim_id, decision.text, target, vectors.get(decision.claim_id, kept))
        changed += 1
    return changed


def withdraw_precedent(store: LabelledStore, claim_id: str) -> bool:
    """The claim no longer has a person's decision: its silver label comes back (or it leaves the store,
    when it had none). Returns whether anything changed."""
    stored = store.entries([claim_id])
    if claim_id not in stored:
        return False
    meta, text, vector = stored[claim_id]
    if meta.get("source") != "human":
        return False
    silver = int(meta.get("silver_label", NO_SILVER))
    if silver == NO_SILVER:
        store.delete([claim_id])
    else:
        # Chroma merges metadata on upsert: the source is overwritten, the reviewer's keys stay unread.
        store.write_entry(claim_id, text, {"label": silver, "text_key": meta["text_key"], "source": "silver"}, vector)
    return True


def human_ids(metas: Iterable[dict[str, Any]]) -> np.ndarray:
    """Which stored claims a person decided (from `LabelledStore.all_labelled`'s metadata)."""
    return np.asarray([meta.get("source") == "human" for meta in metas], dtype=bool)
