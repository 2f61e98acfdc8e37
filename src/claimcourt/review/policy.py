"""The review rules, written once: what a person may see of the Judge, which decisions they may make and
when, which need a note, what is recorded as shown, and the keys that ask for each.

The desk enforces these rules (`ReviewDesk.decide` / `revise` raise `ReviewRefused`); the terminal app,
the web page, decision sheets, `trace`'s inline decision and the LangGraph server only render what the
policy says. A face may ask the policy first to draw itself (which keys to offer, which columns to
show), but it never decides a rule on its own.

Blind means: no view a person can open shows, sorts, filters or searches by the Judge's verdict (label,
p_green, confidence, rationale) of a claim that person has not decided, nor by other people's labels on
it. A person has "decided" a claim once any decision of theirs on it was recorded, even one undone since:
every decision is followed by the reveal, so from then on the verdict is no secret to them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from claimcourt.display import label_name as label_name  # the faces name labels as the policy words them
from claimcourt.errors import ReviewRefused

# -- what a person may see ------------------------------------------------------------------------


def verdict_hidden(*, blind: bool, audit: bool, audit_blind: bool, decided_by_them: bool) -> bool:
    """Whether the Judge's verdict on a claim (and others' labels on it) is hidden from this person.

    Hidden in a blind session, and on an audit claim while audits are blind (`audit_blind`, on by
    default: an audit checks the Judge, and a person who saw its verdict first drifts toward it), until
    this person has decided the claim."""
    return not decided_by_them and (blind or (audit and audit_blind))


def filter_refusal(*, blind: bool) -> ReviewRefused | None:
    """Filtering the queue by the Judge's label or confidence band: it would sort claims by a verdict the
    person may not see, so a blind session refuses it."""
    if blind:
        return ReviewRefused(
            "filters by the Judge's label or confidence are off in blind review (they would show its verdict)",
            reason="filter_blind",
        )
    return None


def export_refusal(*, blind: bool) -> ReviewRefused | None:
    """Exports carry the Judge's labels and confidences of every claim: not offered during a blind session."""
    if blind:
        return ReviewRefused(
            "exports are not offered during a blind session (they carry the Judge's labels): "
            "turn blind review off first, or use `claimcourt export`",
            reason="export_blind",
        )
    return None


# -- which decisions, when ------------------------------------------------------------------------

# "label": the person's own label (1 or 0); "accept": the Judge's label, taken as it is.
Choice = Literal["label", "accept"]


@dataclass(frozen=True)
class Situation:
    """What the desk knows when a decision arrives: the Judge's readable label (None when unreadable),
    whether this person sees the verdict now, and whether they decided this claim before (any decision,
    undone ones included) and whether that earlier decision was blind."""

    judge_label: int | None
    verdict_shown: bool
    decided_before: bool = False
    decided_blind_before: bool = False


def recorded_shown(situation: Situation) -> bool:
    """What is recorded as `verdict_shown`: the verdict on screen now, or revealed after an earlier
    decision of this person's (a revision, or a new decision after an undo, is never blind)."""
    return situation.verdict_shown or situation.decided_before


def accept_refusal(situation: Situation) -> ReviewRefused | None:
    """Why accepting the Judge's label is not allowed here, if it is not."""
    if situation.decided_blind_before:
        return ReviewRefused(
            "a is not offered on a claim you decided blind: your decision stays yours (revise with 1 or 0)",
            reason="accept_after_blind",
        )
    if not situation.verdict_shown:
        return ReviewRefused("a is not offered in blind review: decide with 1 or 0", reason="accept_blind")
    if situation.judge_label is None:
        return ReviewRefused("the Judge has no readable label here: decide with 1 or 0", reason="no_judge_label")
    return None


def choice_for_key(key: str) -> tuple[Choice, int | None]:
    """What a pressed decision key asks for: the person's label (1, 0) or the Judge's (a)."""
    if key in ("1", "0"):
        return "label", int(key)
    if key == "a":
        return "accept", None
    raise ReviewRefused("decide with 1 (green), 0 (not green) or a (accept the Judge)", reason="bad_key")


def label_for(choice: Choice, label: int | None, situation: Situation) -> int:
    """The label a choice records: the person's own, or the Judge's for `accept` (refused where the
    policy says so)."""
    if choice == "accept":
        refused = accept_refusal(situation)
        if refused is not None:
            raise refused
        assert situation.judge_label is not None
        return situation.judge_label
    if label not in (0, 1):
        raise ReviewRefused("decide with 1 (green), 0 (not green) or a (accept the Judge)", reason="bad_key")
    return label


def needs_note(label: int, situation: Situation) -> bool:
    """Overruling a Judge the person saw needs a note saying why: a disagreement with the machine is the
    most valuable label there is, and the most likely to be a slip."""
    shown = recorded_shown(situation)
    return shown and situation.judge_label is not None and label != situation.judge_label


def check_decision(choice: Choice, label: int | None, note: str | None, situation: Situation) -> int:
    """The label to record for this choice, or `ReviewRefused` saying why it cannot be recorded."""
    decided = label_for(choice, label, situation)
    if needs_note(decided, situation) and not (note or "").strip():
        raise ReviewRefused(
            f"you are overruling the Judge ({label_name(situation.judge_label)} → {label_name(decided)}): "
            "a note saying why is required",
            reason="note_required",
        )
    return decided


# -- the keys -------------------------------------------------------------------------------------

Face = Literal["terminal", "web"]
Action = Literal[
    "green", "not_green", "accept", "skip", "note", "undo", "list", "search", "filter_label", "filter_band",
    "next", "back", "help", "quit",
]  # fmt: skip
# When a key is offered: always, or only where the verdict is on screen and the person did not decide
# blind (accept), or only outside blind review (the filters by the Judge's verdict).
When = Literal["always", "verdict_shown", "not_blind"]


@dataclass(frozen=True)
class Key:
    """One key of the review faces, Textual-`Binding`-like: the key(s) pressed (Textual names), how the
    legend writes it, the action, the legend's word (and a shorter one for narrow screens; None: left out
    there), the help line, where it is offered and when."""

    keys: str
    shows_as: str
    action: Action
    word: str
    narrow: str | None
    help: str
    faces: frozenset[Face]
    when: When = "always"


BOTH: frozenset[Face] = frozenset({"terminal", "web"})
TERMINAL: frozenset[Face] = frozenset({"terminal"})

KEYS: tuple[Key, ...] = (
    Key("1", "1", "green", "green", "green", "green (Y02): the claim is green technology", BOTH),
    Key("0", "0", "not_green", "not green", "not", "not green", BOTH),
    Key(
        "a", "a", "accept", "accept the Judge", "agree",
        "accept the Judge's label (only where its verdict was shown before you decided)", BOTH, "verdict_shown",
    ),
    Key("s", "s", "skip", "skip", "skip", "skip: the claim keeps waiting", BOTH),
    Key("n", "n", "note", "note", "note", "a note for this claim (required to overrule a Judge you saw)", BOTH),
    Key("u", "u", "undo", "undo", "undo", "undo your last decision: the claim waits for a person again", BOTH),
    Key("l", "l", "list", "list", "list", "the run's claims: open any one (waiting, yours, others')", TERMINAL),
    Key("slash", "/", "search", "search", "find", "search: a claim id, or words of the claim text", TERMINAL),
    Key("f", "f", "filter_label", "filter", None, "filter by the Judge's label (not in blind review)", TERMINAL,
        "not_blind"),
    Key("c", "c", "filter_band", "confidence band", None,
        "filter by the Judge's confidence band (not in blind review)", TERMINAL, "not_blind"),
    Key("enter,right,space", "Enter/→", "next", "next", None, "the next claim", TERMINAL),
    Key("left", "←", "back", "back", None, "the claim before", TERMINAL),
    Key("q", "q", "quit", "quit", "quit", "quit: every decision is already saved", TERMINAL),
    Key("question_mark", "?", "help", "help", "help", "this help", BOTH),
)  # fmt: skip

ORDER_NOTE = (
    "Claims come hardest first (lowest Judge confidence first): the order is the queue, not the verdict, "
    "but a claim early in the queue is one the Judge was unsure of."
)
BLIND_NOTE = (
    "Blind review hides the Judge's verdict, its confidence and rationale, and other people's labels, on "
    "every claim you have not decided: on the claim, in the list, in search results and in filters (which "
    "are off). Your decision is recorded as blind; the verdict is revealed after it. A later change is a "
    "revision recorded as made with the verdict shown (the blind decision stays in the history), and a "
    "cannot accept the Judge's label on a claim you decided blind. AUDIT claims (the Judge was sure enough "
    "to decide alone; a random share comes to a person to check it) are always blind, unless audits are "
    "revealed."
)
NOTE_NOTE = (
    "Overruling a Judge whose verdict you saw needs a note saying why. On a claim you decided, 1 / 0 revise "
    "your decision (the earlier one stays in the history)."
)


def offered(key: Key, *, face: Face, verdict_shown: bool, blind: bool, decided_blind: bool = False) -> bool:
    """Whether a face offers this key now (drawn in its legend, buttons and bindings)."""
    if face not in key.faces:
        return False
    if key.when == "verdict_shown":
        return verdict_shown and not decided_blind
    if key.when == "not_blind":
        return not blind
    return True


def keys_for(face: Face, *, verdict_shown: bool = True, blind: bool = False, decided_blind: bool = False) -> list[Key]:
    return [
        k for k in KEYS if offered(k, face=face, verdict_shown=verdict_shown, blind=blind, decided_blind=decided_blind)
    ]


def key_for(action: Action) -> Key:
    return next(k for k in KEYS if k.action == action)


def help_lines(face: Face) -> list[tuple[str, str]]:
    """(key as written, what it does) for every key of this face, in the table's order."""
    return [(k.shows_as, k.help) for k in KEYS if face in k.faces]


def rules_text() -> list[str]:
    """The rules a help page states, in the policy's own words."""
    return [NOTE_NOTE, BLIND_NOTE, ORDER_NOTE]


def decided_claims(reviewer: str, reviewers_by_claim: dict[str, set[str]]) -> Collection[str]:
    """The claims this person has decided (any decision, undone ones included)."""
    return {claim for claim, names in reviewers_by_claim.items() if reviewer in names}
