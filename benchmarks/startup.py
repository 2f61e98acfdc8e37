"""CPU that a command spends before doing anything: `claimcourt --help`, `--version`, a mistyped
option and `pending` (on an empty workspace), against `python -c pass`.

Each command runs `--repeat` times in a child process; the figure is the median of the child's user +
sys CPU seconds (`resource.getrusage(RUSAGE_CHILDREN)` before and after), so other work on a busy
machine does not count, unlike wall time. The target (issue 29) is <= 0.3 s a command.

    python benchmarks/startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLAIMCOURT = str(Path(sys.executable).with_name("claimcourt"))


def cpu_of(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """User + sys CPU seconds of one child process, and its exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workspace:
        env = {**os.environ, "CLAIMCOURT_WORKSPACE": workspace}
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "claimcourt --help": [CLAIMCOURT, "--help"],
            "claimcourt --version": [CLAIMCOURT, "--version"],
            "claimcourt run --mistyped": [CLAIMCOURT, "run", "--mistyped"],
            "claimcourt pending": [CLAIMCOURT, "pending"],
        }
        print(f"{'command':<28} {'cpu s (median)':>14} {'min':>6} {'max':>6}  exit")
        for name, argv in commands.items():
            runs = [cpu_of(argv, env) for _ in range(args.repeat)]
            seconds = [s for s, _ in runs]
            print(
                f"{name:<28} {statistics.median(seconds):>14.3f} {min(seconds):>6.3f} {max(seconds):>6.3f}  "
                f"{runs[-1][1]}"
            )


if __name__ == "__main__":
    main()
