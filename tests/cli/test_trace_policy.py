"""`trace`'s inline decision follows the one review policy: the trace shows the Judge's verdict, so
overruling it needs a note; without one the claim keeps waiting, nothing half-saved."""

from __future__ import annotations

from claimcourt.config import Settings
from claimcourt.store import open_store
from tests.cli.test_trace_decisions import CLAIM, indexed, invoke, where_it_stands

__all__ = ["indexed"]


def judge_label_of(settings: Settings, run_id: str, claim_id: str) -> int:
    with open_store(settings) as store:
        claim = store.ledger.claim(run_id, claim_id)
        assert claim is not None
        state = claim.state()
    assert state is not None and state.verdict is not None and state.verdict.label is not None
    return state.verdict.label


def test_overruling_the_judge_inline_needs_a_note_or_the_claim_keeps_waiting(indexed: Settings) -> None:
    base = ["trace", "--text", CLAIM, "--run-id", "t-policy", "--threshold", "1.0", "--reviewer", "cleo"]
    looked = invoke(indexed, *base, "--id", "p-1", input="\n")  # Enter: left waiting, verdict recorded
    assert looked.exit_code == 0, looked.output
    overrule = 1 - judge_label_of(indexed, "t-policy", "p-1")

    silent = invoke(indexed, *base, "--id", "p-2", input=f"{overrule}\n\n")
    assert silent.exit_code == 0, silent.output
    said = " ".join(silent.output.split())
    assert "required" in said and "you overrule the Judge" in said and "the claim keeps waiting" in said
    assert where_it_stands(indexed, "t-policy", "p-2") == ("pending_review", [])

    reasoned = invoke(indexed, *base, "--id", "p-3", input=f"{overrule}\nthe blade is only structural\n")
    assert reasoned.exit_code == 0, reasoned.output
    assert where_it_stands(indexed, "t-policy", "p-3") == ("human", ["cleo"])
    with open_store(indexed) as store:
        (review,) = store.reviews.active(run_id="t-policy", claim_id="p-3")
    assert (review.label, review.note, review.verdict_shown) == (overrule, "the blade is only structural", True)
