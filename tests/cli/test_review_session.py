"""The interactive review session, driven as a person drives it: the real `claimcourt` console script in
a pseudo-terminal (pexpect), keys sent one at a time, the screen read back."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import pexpect
import pytest

from claimcourt.state import ClaimState
from tests.review_support import CLAIMCOURT, RUN_ID, cli_env, counts, plain, review_ws, reviews, waiting_states

__all__ = ["review_ws"]

LEGEND_END = "?  help"  # the last thing drawn: the screen is ready for a key


class Terminal:
    """A `claimcourt review` process in a terminal (60 x 160 unless told)."""

    def __init__(self, ws: Path, *args: str, rows: int = 60, columns: int = 160) -> None:
        if not CLAIMCOURT.exists():
            pytest.skip(f"{CLAIMCOURT} is not installed")
        self.child = pexpect.spawn(
            str(CLAIMCOURT),
            ["review", "--run-id", RUN_ID, "-w", str(ws), *args],
            env=cli_env(),
            dimensions=(rows, columns),
            encoding="utf-8",
            codec_errors="replace",
            timeout=60,
        )
        self.raw = ""
        self.pos = 0

    def _read(self, timeout: float) -> None:
        with contextlib.suppress(pexpect.TIMEOUT):
            self.raw += self.child.read_nonblocking(65536, timeout=timeout)

    def wait_for(self, text: str, timeout: float = 90) -> str:
        """Everything shown since the last wait, up to and including `text`."""
        deadline = time.monotonic() + timeout
        while True:
            shown = plain(self.raw)
            found = shown.find(text, self.pos)
            if found >= 0:
                chunk = shown[self.pos : found + len(text)]
                self.pos = found + len(text)
                return chunk
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen showed:\n{shown[self.pos :][-3000:]}")
            try:
                self._read(0.2)
            except pexpect.EOF:
                if text not in plain(self.raw)[self.pos :]:
                    raise AssertionError(f"exited before {text!r}:\n{plain(self.raw)[self.pos :][-3000:]}") from None

    def ready(self) -> str:
        return self.wait_for(LEGEND_END)

    def key(self, key: str) -> None:
        self.child.send(key)

    def line(self, text: str) -> None:
        self.child.sendline(text)

    def finish(self) -> int:
        try:
            while True:
                self._read(0.5)
        except pexpect.EOF:
            pass
        self.child.close()
        return int(self.child.exitstatus if self.child.exitstatus is not None else -(self.child.signalstatus or 0))


def agree_key(state: ClaimState) -> str:
    assert state.verdict is not None and state.verdict.label is not None
    return str(state.verdict.label)


def overrule_key(state: ClaimState) -> str:
    return str(1 - int(agree_key(state)))


def test_decide_note_undo_quit_then_resume_in_a_new_process(review_ws: Path) -> None:
    c1, c2, c3 = waiting_states(review_ws)[:3]

    term = Terminal(review_ws, "--reviewer", "ann")
    screen = term.ready()
    assert f"claim {c1.claim_id}" in screen
    assert "0 decided" in screen and "24 waiting" in screen
    assert "verdict" in screen and "confidence" in screen  # not blind: the Judge is shown

    term.key("n")
    term.wait_for("note (empty: none):")
    term.line("checked the description")
    assert "your note: checked the description" in term.ready()
    term.key(agree_key(c1))  # agreeing with the Judge needs no note
    screen = term.ready()
    assert f"saved {c1.claim_id}" in screen
    assert f"claim {c2.claim_id}" in screen
    assert "1 decided" in screen and "23 waiting" in screen

    term.key("a")  # accept the Judge's label
    screen = term.ready()
    assert f"saved {c2.claim_id}" in screen and f"claim {c3.claim_id}" in screen

    term.key("u")
    screen = term.ready()
    assert f"undid your decision on {c2.claim_id}" in screen
    assert f"claim {c2.claim_id}" in screen

    term.key("?")
    assert "undo your last decision" in term.wait_for("press any key")
    term.key("x")
    assert f"claim {c2.claim_id}" in term.ready()

    term.key("q")
    assert "1 decided, 1 undone" in term.wait_for("session over") + term.wait_for("undone")
    assert term.finish() == 0

    assert counts(review_ws)["pending_review"] == 23
    (row,) = reviews(review_ws)
    assert (row["claim_id"], row["label"], row["note"], row["reviewer"]) == (
        c1.claim_id,
        int(agree_key(c1)),
        "checked the description",
        "ann",
    )
    assert row["verdict_shown"] == 1

    # A new process starts where the last one stopped: c1 is done, c2 (undone) waits first.
    term = Terminal(review_ws, "--reviewer", "ann")
    screen = term.ready()
    assert f"claim {c2.claim_id}" in screen
    assert "23 waiting" in screen
    term.key(overrule_key(c2))
    term.wait_for("a note saying why is required")
    term.line("")  # no note: not decided
    assert "overruling the Judge needs a note" in term.ready()
    term.key(overrule_key(c2))
    term.wait_for("a note saying why is required")
    term.line("a coating for pipes, nothing about emissions")
    assert f"saved {c2.claim_id}" in term.ready()
    term.key("q")
    assert term.finish() == 0
    decided = {r["claim_id"]: r for r in reviews(review_ws)}
    assert decided[c2.claim_id]["label"] == int(overrule_key(c2))
    assert decided[c2.claim_id]["note"] == "a coating for pipes, nothing about emissions"
    assert counts(review_ws)["pending_review"] == 22

    # Undo reaches the decision of the previous session.
    term = Terminal(review_ws, "--reviewer", "ann")
    term.ready()
    term.key("u")
    assert f"undid your decision on {c2.claim_id}" in term.ready()
    term.key("q")
    assert term.finish() == 0
    assert counts(review_ws)["pending_review"] == 23
    assert set(r["claim_id"] for r in reviews(review_ws)) == {c1.claim_id}


def test_blind_mode_never_shows_the_verdict_before_the_decision(review_ws: Path) -> None:
    c1, c2 = waiting_states(review_ws)[:2]
    assert c1.verdict is not None and c2.verdict is not None

    term = Terminal(review_ws, "--reviewer", "bea", "--blind")
    before = term.ready()
    assert f"claim {c1.claim_id}" in before
    assert "BLIND" in before
    assert "hidden until you decide" in before
    for leak in ("p_green", c1.verdict.rationale[:30], "confidence 0.", "the Judge said", "accept Judge"):
        assert leak not in before, leak

    term.key("a")  # not offered
    assert "not offered in blind review" in term.ready()
    term.key(overrule_key(c1))  # disagreeing unknowingly needs no note
    after = term.ready()
    assert f"saved {c1.claim_id}" in after
    assert "the Judge said" in after and "revealed after your decision" in after  # c1's verdict, now
    claim2 = after[after.index(f"claim {c2.claim_id}") :]
    for leak in ("p_green", c2.verdict.rationale[:30], "confidence 0."):
        assert leak not in claim2, leak
    term.key("q")
    assert term.finish() == 0

    (row,) = reviews(review_ws)
    assert row["verdict_shown"] == 0
    assert "verdict" not in row["shown_json"]
    assert "claim" in row["shown_json"]


def test_killing_the_process_between_two_decisions_loses_neither(review_ws: Path) -> None:
    c1, c2, c3 = waiting_states(review_ws)[:3]
    term = Terminal(review_ws, "--reviewer", "ann", "--order", "confidence")
    term.ready()
    term.key(agree_key(c1))
    term.wait_for(f"saved {c1.claim_id}")
    term.ready()
    term.key(agree_key(c2))
    term.wait_for(f"saved {c2.claim_id}")
    term.ready()
    term.child.kill(signal.SIGKILL)
    term.finish()

    assert counts(review_ws)["human"] == 2
    assert {r["claim_id"] for r in reviews(review_ws)} == {c1.claim_id, c2.claim_id}

    # Ctrl-C is just as safe, and says so.
    term = Terminal(review_ws, "--reviewer", "ann")
    assert f"claim {c3.claim_id}" in term.ready()
    term.key(agree_key(c3))
    term.wait_for(f"saved {c3.claim_id}")
    term.ready()
    term.key("\x03")
    assert "all saved" in term.wait_for("all saved")
    assert term.finish() == 130
    assert counts(review_ws)["human"] == 3


def test_second_opinion_session_shows_claims_a_person_decided(review_ws: Path) -> None:
    c1 = waiting_states(review_ws)[0]
    term = Terminal(review_ws, "--reviewer", "ann")
    term.ready()
    term.key(agree_key(c1))
    term.wait_for(f"saved {c1.claim_id}")
    term.ready()
    term.key("q")
    assert term.finish() == 0

    term = Terminal(review_ws, "--reviewer", "bob", "--second-opinion", "--blind")
    screen = term.ready()
    assert "SECOND OPINION" in screen and f"claim {c1.claim_id}" in screen
    term.key(overrule_key(c1))
    term.wait_for(f"saved {c1.claim_id}")
    term.wait_for("session over")
    assert term.finish() == 0
    rows = reviews(review_ws)
    assert [(r["reviewer"], r["resumed_thread"], r["verdict_shown"]) for r in rows] == [("ann", 1, 1), ("bob", 0, 0)]
    assert counts(review_ws)["human"] == 1


def test_a_small_terminal_keeps_the_claim_on_screen_and_m_shows_the_arguments_whole(review_ws: Path) -> None:
    c1 = waiting_states(review_ws)[0]
    term = Terminal(review_ws, "--reviewer", "ann", rows=30, columns=110)
    screen = term.ready()
    assert f"claim {c1.claim_id}" in screen
    assert "cut to fit" in screen and "m  more" in screen
    term.key("m")
    screen = term.ready()
    assert "cut to fit" not in screen
    assert c1.advocate is not None and c1.advocate.text.splitlines()[-1].strip()[:25] in " ".join(screen.split())
    term.key("q")
    assert term.finish() == 0
