"""The review app as the real `claimcourt` binary in a real terminal multiplexer, read back as a person
sees it (tmux capture-pane): deciding, quitting, resuming in a new process, and a SIGKILL right after a
decision key."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from claimcourt.config import Settings
from claimcourt.review.desk import ReviewDesk
from claimcourt.review.threads import is_waiting
from tests.review_support import (
    CLAIMCOURT,
    RUN_ID,
    cli_env,
    counts,
    review_settings,
    review_ws,
    reviews,
    waiting_states,
)

__all__ = ["review_settings", "review_ws"]

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
READY = "? help"  # the last thing on the keys line: the app is drawn and waits for a key
# Where the screens are kept when asked (CLAIMCOURT_SCREENS_DIR): for people to look at.
SCREENS = os.environ.get("CLAIMCOURT_SCREENS_DIR")


class Tmux:
    def __init__(self, columns: int = 160, rows: int = 50) -> None:
        self.socket = f"claimcourt-test-{os.getpid()}-{time.monotonic_ns()}"
        self.env = cli_env()
        self.size = (columns, rows)

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env)
        return done.stdout

    def start(self, command: str) -> None:
        columns, rows = self.size
        self.tmux(
            "new-session",
            "-d",
            "-s",
            "review",
            "-x",
            str(columns),
            "-y",
            str(rows),
            f"{command}; echo EXITED $?; sleep 60",
        )

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "review")

    def wait_for(self, text: str, timeout: float = 300) -> str:  # a bound for what never appears
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared on screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "review", *keys)

    def app_pid(self) -> int:
        shell = int(self.tmux("list-panes", "-t", "review", "-F", "#{pane_pid}").split()[0])
        children = subprocess.run(["pgrep", "-P", str(shell)], capture_output=True, text=True).stdout.split()
        return int(children[0])

    def close(self) -> None:
        self.tmux("kill-server")


def review_command(ws: Path, *extra: str) -> str:
    return shlex.join([str(CLAIMCOURT), "review", "--run-id", RUN_ID, "--reviewer", "tia", "-w", str(ws), *extra])


def keep(name: str, screen: str) -> None:
    if SCREENS:
        Path(SCREENS).mkdir(parents=True, exist_ok=True)
        (Path(SCREENS) / name).write_text(screen, encoding="utf-8")


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
def test_decide_quit_and_resume_in_tmux(review_ws: Path, size: tuple[int, int]) -> None:
    if not CLAIMCOURT.exists():
        pytest.skip(f"{CLAIMCOURT} is not installed")
    c1, c2 = waiting_states(review_ws)[:2]
    assert c1.verdict is not None and c1.verdict.label is not None
    term = Tmux(*size)
    try:
        term.start(review_command(review_ws))
        screen = term.wait_for(READY)
        keep(f"review-{size[0]}x{size[1]}.txt", screen)
        lines = screen.rstrip("\n").split("\n")
        assert len(lines) == size[1] and max(len(line) for line in lines) <= size[0]
        assert f"claim {c1.claim_id}" in screen
        assert " ".join(c1.text.split()[:6]) in " ".join(screen.split())  # the claim's words, on screen
        term.keys(str(c1.verdict.label))
        screen = term.wait_for(f"saved {c1.claim_id}")
        assert f"claim {c2.claim_id}" in screen and "session 1" in screen
        term.keys("q")
        screen = term.wait_for("EXITED 0")
        assert "23 claim(s) still wait" in screen
        assert "--reviewer tia" in screen.replace("\n", "")  # the hint repeats the options given (wrapped at the edge)
    finally:
        term.close()

    term = Tmux(*size)  # a new terminal, a new process: it starts where the last one stopped
    try:
        term.start(review_command(review_ws))
        screen = term.wait_for(READY)
        assert f"claim {c2.claim_id}" in screen and f"claim {c1.claim_id}" not in screen
        assert "you 1" in screen
        term.keys("q")
        term.wait_for("EXITED 0")
    finally:
        term.close()
    assert counts(review_ws)["human"] == 1
    assert [r["claim_id"] for r in reviews(review_ws)] == [c1.claim_id]


async def _settled(settings: Settings, claim_id: str) -> tuple[str, bool, int]:
    """After the next session's reconcile: (ledger status, thread waiting, active reviews) of the claim."""
    async with ReviewDesk(settings, RUN_ID) as desk:
        await desk.reconcile()
        claim = desk.ledger.claim(RUN_ID, claim_id)
        assert claim is not None
        waiting = is_waiting(await desk.threads.snapshot(claim_id))
        return claim.status, waiting, len(desk.store.active(run_id=RUN_ID, claim_id=claim_id))


@pytest.mark.parametrize("after_s", [0.0, 0.15])
def test_sigkill_right_after_a_decision_key_keeps_it_whole_or_not_at_all(
    review_ws: Path, review_settings: Settings, after_s: float
) -> None:
    if not CLAIMCOURT.exists():
        pytest.skip(f"{CLAIMCOURT} is not installed")
    c1 = waiting_states(review_ws)[0]
    assert c1.verdict is not None and c1.verdict.label is not None
    term = Tmux(100, 30)
    try:
        term.start(review_command(review_ws))
        term.wait_for(READY)
        pid = term.app_pid()
        term.keys(str(c1.verdict.label))
        time.sleep(after_s)
        os.kill(pid, signal.SIGKILL)
        term.wait_for("EXITED 137")
    finally:
        term.close()
    status, waiting, active = asyncio.run(_settled(review_settings, c1.claim_id))
    # Whole: the ledger, the thread and the reviews table all hold it. Absent: none of them does.
    assert (status, waiting, active) in (("human", False, 1), ("pending_review", True, 0))


def test_ctrl_c_stops_and_says_everything_is_saved(review_ws: Path) -> None:
    if not CLAIMCOURT.exists():
        pytest.skip(f"{CLAIMCOURT} is not installed")
    c1 = waiting_states(review_ws)[0]
    assert c1.verdict is not None and c1.verdict.label is not None
    term = Tmux(100, 30)
    try:
        term.start(review_command(review_ws, "--blind"))
        term.wait_for(READY)
        term.keys(str(c1.verdict.label))
        term.wait_for(f"saved {c1.claim_id}")
        term.keys("C-c")
        screen = term.wait_for("EXITED 130")
        assert "all saved" in screen and "--blind" in screen.replace("\n", "")
    finally:
        term.close()
    assert counts(review_ws)["human"] == 1
