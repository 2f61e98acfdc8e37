"""People's final decisions, read off the reviews table, as the labelled store's human precedents.

The review desk calls `follow_decisions` after every decision, revision and undo it commits (every face
goes through the desk), and `claimcourt learn` calls `sync_all` before it refits, which also covers
decisions recorded where no desk stands (the LangGraph server) and a process that died between a
decision's commit and its precedent.
"""

from __future__ import annotations

from collections.abc import Iterable

from claimcourt.config import Settings
from claimcourt.retrieval.precedents import HumanLabel, set_precedents, withdraw_precedent
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.store import Review, Store
from claimcourt.vocab import ClaimStatus


def _human_label(state_store: Store, review: Review) -> HumanLabel | None:
    """The final decision `review` as a precedent, while its claim is still decided by a person."""
    if not review.resumed_thread:
        return None  # a second opinion: the claim's label is the one that resumed its thread
    claim = state_store.ledger.claim(review.run_id, review.claim_id)
    state = claim.state() if claim is not None else None
    if state is None or state.decided_by != ClaimStatus.HUMAN:
        return None
    return HumanLabel(review.claim_id, state.text, review.label, review.reviewer, review.run_id, review.decided_at)


def human_labels(state_store: Store, reviews: Iterable[Review]) -> list[HumanLabel]:
    return [found for review in reviews if (found := _human_label(state_store, review)) is not None]


def _store_is_there(search: NeighbourSearch | None) -> bool:
    """A workspace with nothing indexed has no store to add to (`learn` adds the precedents later)."""
    if search is None:
        return False
    store = search.store
    return store.is_server or store.path.exists()


def follow_decisions(state_store: Store, search: NeighbourSearch | None, claim_ids: Iterable[str]) -> None:
    """Bring each claim's precedent in line with its final decisions across all runs (the latest counts;
    none left, and the silver label comes back)."""
    if not _store_is_there(search):
        return
    assert search is not None
    for claim_id in dict.fromkeys(claim_ids):
        labels = human_labels(state_store, state_store.reviews.active(claim_id=claim_id))
        if labels:
            set_precedents(search.store, labels, search.embedder.embed)
        else:
            withdraw_precedent(search.store, claim_id)


def learn_if_due(settings: Settings, state_store: Store, search: NeighbourSearch | None, run_id: str) -> bool:
    """`offline.learn_every`: refit the offline Judge when the run's final decisions reach a multiple of
    it (the new version judges what is debated from then on; waiting claims keep their verdicts until
    `learn --rejudge`). Returns whether it refitted."""
    every = settings.offline.learn_every
    if every <= 0 or settings.profile != "offline" or not _store_is_there(search):
        return False
    assert search is not None
    decided = sum(r.resumed_thread for r in state_store.reviews.active(run_id=run_id))
    if decided == 0 or decided % every:
        return False
    from claimcourt.models.offline.refit import fit_judge

    fit_judge(settings, search.store, by="learn")
    return True


def sync_all(state_store: Store, search: NeighbourSearch) -> list[HumanLabel]:
    """Every final human decision of the workspace made a precedent, and a precedent whose decision is gone
    (undone by a process killed before the desk withdrew it) withdrawn; returns the decisions (one per
    claim id)."""
    from claimcourt.retrieval.precedents import latest

    labels = list(latest(human_labels(state_store, state_store.reviews.all_active())).values())
    set_precedents(search.store, labels, search.embedder.embed)
    decided = {label.claim_id for label in labels}
    for claim_id in search.store.human_precedent_ids():
        if claim_id not in decided:
            withdraw_precedent(search.store, claim_id)
    return labels
