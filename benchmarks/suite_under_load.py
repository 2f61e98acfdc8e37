"""The README's test command, run while a CPU hog keeps every core busy (issue 29, item 2).

Starts `--hogs` busy-loop processes at normal priority (default: one per core), then runs the whole
suite `--runs` times in a row (default 3), each with `--durations`, and stops the hogs. Prints, per
run, pytest's result line, its wall time and the load average, and writes each run's output to
`--logs`. Exits non-zero unless every run passed. Takes as long as the suite takes, times `--runs`:
run it on a machine nobody else is using for anything that matters.

    python benchmarks/suite_under_load.py [--runs 3] [--hogs N] [--durations 40] [--logs DIR] [-- PYTEST ARGS]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOG = "while True:\n    pass\n"


def result_line(output: str) -> str:
    """pytest's closing summary ('3 failed, 641 passed, 5 skipped in ...'), or the output's last line."""
    lines = [line.strip("= ") for line in output.splitlines() if line.strip()]
    found = [line for line in lines if (" passed" in line or " failed" in line or " error" in line) and " in " in line]
    return (found or lines or ["(no output)"])[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--durations", type=int, default=40)
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "claimcourt-suite-under-load")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    pytest = [sys.executable, "-m", "pytest", "-q", f"--durations={args.durations}", *args.pytest_args]
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(args.hogs)]
    print(f"{args.hogs} busy loops running (pids {', '.join(str(h.pid) for h in hogs)}); suite: {' '.join(pytest)}")
    passed = 0
    try:
        for run in range(1, args.runs + 1):
            log = args.logs / f"run-{run}.log"
            started = time.monotonic()
            with log.open("w", encoding="utf-8") as out:
                code = subprocess.run(pytest, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
            took = time.monotonic() - started
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            line = result_line(log.read_text(encoding="utf-8", errors="replace"))
            print(f"run {run}: exit {code}, {took / 60:.1f} min, load {load}: {line}  ({log})", flush=True)
            passed += code == 0
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    print(f"{passed} of {args.runs} runs passed under {args.hogs} busy loops")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
