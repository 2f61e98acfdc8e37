"""The review policy's table, combination by combination: what a person sees, which decisions are allowed,
which need a note, what is recorded as shown, and the one key table every face draws."""

from __future__ import annotations

import itertools

import pytest

from claimcourt.errors import ReviewRefused
from claimcourt.review.policy import (
    KEYS,
    Situation,
    check_decision,
    choice_for_key,
    export_refusal,
    filter_refusal,
    help_lines,
    keys_for,
    recorded_shown,
    verdict_hidden,
)


@pytest.mark.parametrize(("blind", "audit", "audit_blind", "decided"), list(itertools.product([False, True], repeat=4)))
def test_the_verdict_is_hidden_exactly_in_blind_review_or_a_blind_audit_until_the_person_decides(
    blind: bool, audit: bool, audit_blind: bool, decided: bool
) -> None:
    expected = not decided and (blind or (audit and audit_blind))
    assert verdict_hidden(blind=blind, audit=audit, audit_blind=audit_blind, decided_by_them=decided) is expected


# Every (choice, label, shown now, decided before, decided blind before, Judge's label, note) combination.
COMBINATIONS = [
    (choice, label, shown, before, blind_before, judge, note)
    for choice, label in (("label", 0), ("label", 1), ("accept", None))
    for shown, before, blind_before in itertools.product([False, True], repeat=3)
    if before or not blind_before  # a blind earlier decision is an earlier decision
    for judge in (None, 0, 1)
    for note in (None, "the claim is about storage, not generation")
]


def expected_outcome(
    choice: str, label: int | None, shown: bool, before: bool, blind_before: bool, judge: int | None, note: str | None
) -> int | str:
    """The table the issue states, written out independently of the module: a label, or the refusal."""
    if choice == "accept":
        if blind_before:
            return "accept_after_blind"
        if not shown:
            return "accept_blind"
        if judge is None:
            return "no_judge_label"
        label = judge
    assert label is not None
    # Shown now, or revealed after an earlier decision: overruling needs a note.
    if (shown or before) and judge is not None and label != judge and not note:
        return "note_required"
    return label


@pytest.mark.parametrize(("choice", "label", "shown", "before", "blind_before", "judge", "note"), COMBINATIONS)
def test_every_decision_is_allowed_or_refused_as_the_table_says(
    choice: str, label: int | None, shown: bool, before: bool, blind_before: bool, judge: int | None, note: str | None
) -> None:
    situation = Situation(
        judge_label=judge, verdict_shown=shown, decided_before=before, decided_blind_before=blind_before
    )
    expected = expected_outcome(choice, label, shown, before, blind_before, judge, note)
    if isinstance(expected, str):
        with pytest.raises(ReviewRefused) as refused:
            check_decision(choice, label, note, situation)  # type: ignore[arg-type]
        assert refused.value.reason == expected
    else:
        assert check_decision(choice, label, note, situation) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("shown", "before"), list(itertools.product([False, True], repeat=2)))
def test_a_decision_after_the_reveal_is_recorded_as_shown(shown: bool, before: bool) -> None:
    situation = Situation(judge_label=1, verdict_shown=shown, decided_before=before, decided_blind_before=before)
    assert recorded_shown(situation) is (shown or before)


def test_a_note_of_blanks_is_no_note() -> None:
    with pytest.raises(ReviewRefused) as refused:
        check_decision("label", 0, "   ", Situation(judge_label=1, verdict_shown=True))
    assert refused.value.reason == "note_required"


def test_keys_map_to_choices_and_anything_else_is_refused() -> None:
    assert choice_for_key("1") == ("label", 1)
    assert choice_for_key("0") == ("label", 0)
    assert choice_for_key("a") == ("accept", None)
    for key in ("", "2", "x", "A"):
        with pytest.raises(ReviewRefused):
            choice_for_key(key)


def test_filters_and_exports_are_refused_in_blind_review_only() -> None:
    assert filter_refusal(blind=False) is None and export_refusal(blind=False) is None
    blind_filter, blind_export = filter_refusal(blind=True), export_refusal(blind=True)
    assert blind_filter is not None and blind_filter.reason == "filter_blind"
    assert blind_export is not None and blind_export.reason == "export_blind"


def test_the_key_table_offers_accept_only_where_the_verdict_was_shown_and_filters_only_outside_blind() -> None:
    def actions(**now: bool) -> set[str]:
        return {k.action for k in keys_for("terminal", **now)}

    assert {"accept", "filter_label", "filter_band"} <= actions(verdict_shown=True, blind=False)
    assert "accept" not in actions(verdict_shown=False, blind=True)
    assert "accept" not in actions(verdict_shown=True, blind=True, decided_blind=True)
    assert not {"filter_label", "filter_band"} & actions(verdict_shown=True, blind=True)
    web = {k.action for k in keys_for("web", verdict_shown=True)}
    assert web == {"green", "not_green", "accept", "skip", "note", "undo", "help"}


def test_the_key_table_is_one_table_with_one_entry_per_key() -> None:
    pressed = [key for k in KEYS for key in k.keys.split(",")]
    assert len(pressed) == len(set(pressed))
    assert len({k.action for k in KEYS}) == len(KEYS)
    assert [shows for shows, _ in help_lines("web")] == [k.shows_as for k in KEYS if "web" in k.faces]
