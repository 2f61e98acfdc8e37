"""The review session in a real terminal multiplexer, read back as a person sees it (tmux capture-pane)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.review_support import CLAIMCOURT, RUN_ID, cli_env, counts, review_ws, reviews, waiting_states

__all__ = ["review_ws"]

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self) -> None:
        self.socket = f"claimcourt-test-{os.getpid()}-{time.monotonic_ns()}"
        self.env = cli_env()

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env)
        return done.stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "review", "-x", "150", "-y", "50", f"{command}; echo EXITED $?; sleep 60")

    def screen(self) -> str:
        # With the scrollback: a tall claim screen scrolls its top out of a 50-line window.
        return self.tmux("capture-pane", "-p", "-S", "-400", "-t", "review")

    def wait_for(self, text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared on screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "review", *keys)

    def close(self) -> None:
        self.tmux("kill-server")


def test_quit_and_resume_in_tmux(review_ws: Path) -> None:
    c1, c2 = waiting_states(review_ws)[:2]
    assert c1.verdict is not None and c1.verdict.label is not None
    command = shlex.join([str(CLAIMCOURT), "review", "--run-id", RUN_ID, "--reviewer", "tia", "-w", str(review_ws)])
    term = Tmux()
    try:
        term.start(command)
        screen = term.wait_for("?  help")
        assert f"claim {c1.claim_id}" in screen
        term.keys(str(c1.verdict.label))
        screen = term.wait_for(f"saved {c1.claim_id}")
        term.keys("q")
        screen = term.wait_for("EXITED 0")
        assert "23 claim(s) still wait" in screen
    finally:
        term.close()

    term = Tmux()  # a new terminal, a new process: it starts where the last one stopped
    try:
        term.start(command)
        screen = term.wait_for("?  help")
        assert f"claim {c2.claim_id}" in screen
        assert f"claim {c1.claim_id}" not in screen
        term.keys("q")
        term.wait_for("EXITED 0")
    finally:
        term.close()
    assert counts(review_ws)["human"] == 1
    assert [r["claim_id"] for r in reviews(review_ws)] == [c1.claim_id]
