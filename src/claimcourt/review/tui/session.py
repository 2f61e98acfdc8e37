"""A review session without its screen: which claim comes next, what a key does to the desk, and what
to say about it. The app draws it; tests can drive it too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from claimcourt.errors import ClaimcourtError, RunStateError
from claimcourt.review.desk import Order, ReviewDesk
from claimcourt.review.policy import (
    Choice,
    Situation,
    accept_refusal,
    decided_claims,
    filter_refusal,
    needs_note,
)
from claimcourt.review.queries import (
    BANDS,
    LABEL_FILTERS,
    ClaimRow,
    LabelFilter,
    Standing,
    claim_row,
    claim_rows,
    last_note,
    reviewer_counts,
    seen_by,
    stopped_at,
)
from claimcourt.review.records import outcome_said
from claimcourt.state import ClaimState, HumanDecision, utc_now
from claimcourt.store import Review

Tone = Literal["ok", "info", "warn", "error"]


@dataclass
class SessionSummary:
    decided: int = 0
    revised: int = 0
    undone: int = 0
    skipped: list[str] = field(default_factory=list)
    decided_elsewhere: int = 0
    waiting_in_run: int = 0
    interrupted: bool = False


@dataclass
class Shown:
    """The claim on screen."""

    state: ClaimState
    standing: Standing
    reviews: list[Review]
    mine: Review | None
    note: str | None
    shown_at: str
    # The Judge's verdict (and others' labels) withheld from this person (`policy.verdict_hidden`):
    # blind review or a blind audit, until they decide; re-read whenever the claim is opened.
    hidden: bool = False
    # What the policy needs to judge a decision on this claim (the Judge's label, earlier decisions).
    situation: Situation = field(default_factory=lambda: Situation(judge_label=None, verdict_shown=True))

    @property
    def claim_id(self) -> str:
        return self.state.claim_id


@dataclass(frozen=True)
class Said:
    """What the app tells the person after a key."""

    text: str
    tone: Tone = "info"
    # What became of a decision ("decided", "revised"...; `records.Outcome.status`), when one was made.
    outcome: str | None = None


class Session:
    def __init__(
        self, desk: ReviewDesk, *, reviewer: str, blind: bool, order: Order = "confidence", second_opinion: bool = False
    ) -> None:
        self.desk = desk
        self.reviewer = reviewer
        self.blind = blind
        self.order: Order = order
        self.second_opinion = second_opinion
        self.summary = SessionSummary()
        self.label_filter: LabelFilter = "any"
        self.band: tuple[float, float] | None = None
        self.drafts: dict[str, str] = {}  # notes typed for claims not yet decided
        self.shown: Shown | None = None
        self.back: list[str] = []  # claims shown before, for going back
        # The waiting claim on screen is leased to this reviewer, so another session does not show it.
        self.leased: str | None = None

    # -- what there is ----------------------------------------------------------------------------
    def all_rows(self) -> list[ClaimRow]:
        """The run's claims as this reviewer may see them (`queries.seen_by`: the policy's blind rule)."""
        rows = claim_rows(self.desk.ledger, self.desk.store, self.desk.run_id, self.reviewer, self.order)
        decided = decided_claims(self.reviewer, self.desk.store.reviewers_of(self.desk.run_id, undone_too=True))
        return seen_by(
            rows, self.reviewer, blind=self.blind, audit_blind=self.desk.settings.audit_blind, decided=decided
        )

    def rows(self) -> list[ClaimRow]:
        """The run's claims as this reviewer sees them, filtered."""
        return [r for r in self.all_rows() if r.matches(self.label_filter, self.band)]

    def queue(self) -> list[str]:
        """The claims this session walks: waiting ones (or, for a second opinion, those a person decided and
        this reviewer has not), in the waiting order, filtered, skipped ones last; not those on another
        reviewer's screen."""
        wanted = self.desk.queue(order=self.order, second_opinion=self.second_opinion, reviewer=self.reviewer)
        held = self.held_by_others()
        allowed = {r.claim_id for r in self.rows() if r.claim_id not in held}
        listed = [c for c in wanted if c in allowed]
        return [c for c in listed if c not in self.summary.skipped] + [c for c in listed if c in self.summary.skipped]

    def held_by_others(self) -> dict[str, str]:
        """claim id -> reviewer, for the claims leased to someone else (a second opinion ignores leases)."""
        if self.second_opinion:
            return {}
        holders = self.desk.state_store.review_leases.holders(self.desk.run_id)
        return {c: who for c, who in holders.items() if who != self.reviewer}

    def counts(self) -> tuple[int, int, int]:
        """(this reviewer's decisions in the run, everyone's, claims waiting)."""
        per = reviewer_counts(self.desk.store, self.desk.run_id)
        return per.get(self.reviewer, 0), sum(per.values()), self.desk.waiting_count()

    def filter_name(self) -> str:
        parts = [] if self.label_filter == "any" else [f"Judge {self.label_filter}"]
        if self.band is not None:
            parts.append(f"confidence {self.band[0]:.1f}–{self.band[1]:.1f}")
        return ", ".join(parts)

    def cycle_label_filter(self) -> Said | None:
        """The next filter by the Judge's label; what to say when the policy refuses it (blind review)."""
        if (refused := filter_refusal(blind=self.blind)) is not None:
            return Said(refused.message, "warn")
        self.label_filter = LABEL_FILTERS[(LABEL_FILTERS.index(self.label_filter) + 1) % len(LABEL_FILTERS)]
        return None

    def cycle_band(self) -> Said | None:
        if (refused := filter_refusal(blind=self.blind)) is not None:
            return Said(refused.message, "warn")
        index = -1 if self.band is None else BANDS.index(self.band)
        self.band = None if index + 1 == len(BANDS) else BANDS[index + 1]
        return None

    # -- moving -----------------------------------------------------------------------------------
    async def open(self, claim_id: str, *, remember_back: bool = True) -> Shown | None:
        """Show the claim; None when it has no state or it waits on another reviewer's screen."""
        state = await self.desk.threads.current(claim_id)
        if state is None:
            return None
        row = claim_row(self.desk.ledger, self.desk.store, self.desk.run_id, claim_id, self.reviewer)
        leased = row is not None and row.standing == "waiting" and not self.second_opinion
        if leased and not self.desk.take(claim_id, self.reviewer):
            return None
        if self.leased is not None and self.leased != claim_id:
            self.desk.release(self.leased, self.reviewer)  # moving away without deciding gives it back
        self.leased = claim_id if leased else None
        reviews = list(row.reviews) if row is not None else []
        mine = row.mine(self.reviewer) if row is not None else None
        note = mine.note if mine is not None else self.drafts.get(claim_id)
        if note is None and mine is None:
            note = last_note(self.desk.store, self.desk.run_id, claim_id, self.reviewer)
        if remember_back and self.shown is not None and self.shown.claim_id != claim_id:
            self.back.append(self.shown.claim_id)
        standing: Standing = row.standing if row is not None else "other"
        hidden = self.desk.blind_for(state, requested=self.blind, reviewer=self.reviewer)
        situation = self.desk.situation(state, self.reviewer, verdict_shown=not hidden)
        self.shown = Shown(state, standing, reviews, mine, note, utc_now(), hidden=hidden, situation=situation)
        self.desk.remember(self.reviewer, claim_id)
        return self.shown

    async def start(self) -> Shown | None:
        """Where this reviewer stopped, if that claim is still theirs to decide; else the first in the queue."""
        queue = self.queue()
        where = stopped_at(self.desk.store, self.desk.run_id, self.reviewer)
        if where in queue:
            return await self.open(where)
        return await self.next_claim()

    async def next_claim(self) -> Shown | None:
        """The next claim of the queue after the one on screen (the first one when it is not in the queue)."""
        queue = self.queue()
        current = self.shown.claim_id if self.shown is not None else None
        if current in queue:
            at = queue.index(current)
            queue = queue[at + 1 :] + queue[:at]
        for claim_id in queue:
            shown = await self.open(claim_id)
            if shown is not None:
                return shown
        return None

    def renew_lease(self) -> Said | None:
        """Keep the waiting claim on screen leased (called on a timer); what to say if it was lost."""
        if self.leased is None:
            return None
        try:
            self.desk.renew(self.leased, self.reviewer)
        except RunStateError as exc:
            self.leased = None
            return Said(f"{exc.message}; moved on", "warn")
        return None

    def release_lease(self) -> None:
        """Give the claim on screen back (the session ends): another reviewer may take it at once."""
        if self.leased is not None:
            self.desk.release(self.leased, self.reviewer)
            self.leased = None

    async def go_back(self) -> Shown | None:
        while self.back:
            shown = await self.open(self.back.pop(), remember_back=False)
            if shown is not None:
                return shown
        return None

    def skip(self) -> Said:
        assert self.shown is not None
        if self.shown.standing == "waiting" and self.shown.claim_id not in self.summary.skipped:
            self.summary.skipped.append(self.shown.claim_id)
        return Said(f"skipped {self.shown.claim_id}: it keeps waiting")

    def set_note(self, note: str) -> Said:
        assert self.shown is not None
        self.shown.note = note
        self.drafts[self.shown.claim_id] = note
        return Said("note kept for this claim; now decide with 1 / 0", "info")

    # -- deciding ---------------------------------------------------------------------------------
    def verdict_hidden(self) -> bool:
        """Whether the claim on screen hides the Judge's verdict from this person (`policy.verdict_hidden`)."""
        return self.shown is not None and self.shown.hidden

    def needs_note(self, label: int) -> bool:
        """Deciding `label` overrules a Judge the person saw: the policy wants a note saying why."""
        assert self.shown is not None
        return needs_note(label, self.shown.situation)

    def label_for(self, key: str) -> int | None:
        """The label a decision key stands for here (the Judge's for `a`); None when `a` has none."""
        assert self.shown is not None
        return self.shown.situation.judge_label if key == "a" else int(key)

    def refusal(self, key: str) -> Said | None:
        """Why this key cannot decide the claim on screen, if it cannot."""
        shown = self.shown
        if shown is None:
            return Said("no claim on screen", "warn")
        if shown.standing == "judge" and shown.mine is None:
            return Said("the Judge decided this claim above the threshold: it is not open for review", "warn")
        if shown.standing == "other":
            return Said(f"{shown.claim_id} has no debate to decide on yet", "warn")
        if key == "a" and (refused := accept_refusal(shown.situation)) is not None:
            return Said(refused.message, "warn")
        return None

    async def decide(self, label: int, note: str | None, *, choice: Choice = "label") -> Said:
        """Decide (or revise, or give a second opinion on) the claim on screen. Committed before it returns;
        the desk applies the review policy and its refusal is said here."""
        shown = self.shown
        assert shown is not None
        hidden = self.verdict_hidden()
        decision = HumanDecision(label=label, reviewer=self.reviewer, note=note or None, verdict_shown=not hidden)
        what = ["claim", "neighbours", "advocate", "skeptic"] + ([] if hidden else ["verdict"])
        try:
            if shown.mine is not None:
                outcome = await self.desk.revise(
                    shown.claim_id, decision, source="interactive", shown=what, shown_at=shown.shown_at, choice=choice
                )
            else:
                outcome = await self.desk.decide(
                    shown.claim_id,
                    decision,
                    source="interactive",
                    shown=what,
                    shown_at=shown.shown_at,
                    second_opinion=self.second_opinion or shown.standing == "others",
                    choice=choice,
                )
        except ClaimcourtError as exc:
            return Said(f"not saved: {exc.message}", "error")
        self.drafts.pop(shown.claim_id, None)
        self.leased = None  # the decision ended the lease
        if outcome.status == "revised":
            self.summary.revised += 1
        else:
            self.summary.decided += 1
        if outcome.status == "decided_elsewhere":
            self.summary.decided_elsewhere += 1
        await self.open(shown.claim_id, remember_back=False)
        return Said("✓ " + outcome_said(outcome, revealed=hidden), "ok", outcome=outcome.status)

    async def undo(self) -> tuple[Said, str | None]:
        """Undo this reviewer's latest decision in the run; (what to say, the claim to show then)."""
        try:
            undone = await self.desk.undo_last(self.reviewer)
        except ClaimcourtError as exc:
            return Said(f"cannot undo: {exc.message}", "error"), None
        if undone is None:
            return Said(f"nothing to undo: {self.reviewer} has no decision in this run", "warn"), None
        review = undone.review
        self.summary.undone += 1
        if review.session_id == self.desk.session_id and self.summary.decided:
            self.summary.decided -= 1
        if review.note:
            self.drafts[review.claim_id] = review.note
        where = "it waits for a person again" if undone.state is not None else "your second opinion is withdrawn"
        return Said(f"↶ undid your decision on {review.claim_id}: {where}", "info"), review.claim_id

    def finish(self) -> SessionSummary:
        self.release_lease()
        self.summary.waiting_in_run = self.desk.waiting_count()
        return self.summary
