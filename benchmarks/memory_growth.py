"""Memory by claims debated: a batch run's peak RSS must not grow with the number of claims.

One `Runner` run (offline profile, real MiniLM, real Chroma, real SQLite checkpointer and ledger) over
N claims made by repeating the silver texts under new ids, in a fresh process. The peak RSS so far
(VmHWM) is sampled as claims finish; the figure that matters is the peak at N claims against the peak at
N/10 claims (target: within 10%).

    python benchmarks/memory_growth.py [--claims 20000] [--data ../shared/data/silver_claims.csv]
                                       [--tracemalloc]   # also print the top allocation sites' growth

The index is the silver file itself (a claim never retrieves itself, by id; the repeated texts under new
ids find their twin, which is fine for memory). Figures go to stdout; nothing is written to the repo.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def make_claims(source: Path, target: Path, count: int, *, unique: bool = False) -> None:
    with source.open(encoding="utf-8", newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh)]
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        for i in range(count):
            text = texts[i % len(texts)]
            # --unique: every claim's text differs, so every claim is embedded (slow: ~25 s per 600).
            writer.writerow([f"m{i:06d}", f"{text} (variant {i})" if unique else text])


def child(workspace: Path, claims: Path, count: int, marks: list[int], trace: bool) -> None:
    """Runs in its own process: one run over `claims`, printing peak RSS at each mark."""
    from claimcourt.config import load_settings
    from claimcourt.jobs.runner import Progress, Runner
    from claimcourt.tables import ClaimTable

    settings = load_settings(overrides={"workspace": workspace}, environ={})
    figures: dict[int, tuple[float, float, float]] = {}
    pending = sorted(marks)
    snapshots: list[tracemalloc.Snapshot] = []
    started = time.perf_counter()

    def sample(progress: Progress) -> None:
        while pending and progress.done >= pending[0]:
            mark = pending.pop(0)
            figures[mark] = (_kib("VmHWM") / 1024, _kib("VmRSS") / 1024, time.perf_counter() - started)
            hwm, rss, took = figures[mark]
            # Python's own allocated blocks: flat while RSS grows means the growth is native (torch, malloc).
            blocks = sys.getallocatedblocks()
            print(
                f"  {mark:>7} claims: peak RSS {hwm:8.1f} MiB, RSS {rss:8.1f} MiB, "
                f"{blocks:>9} Python blocks, {took:7.1f}s",
                flush=True,
            )
            if trace:
                snapshots.append(tracemalloc.take_snapshot())

    if trace:
        tracemalloc.start(8)
    runner = Runner(settings, on_progress=sample)
    summary = asyncio.run(runner.run(ClaimTable(claims), run_id="memory"))
    print(f"  done: {summary.counts} in {time.perf_counter() - started:.1f}s", flush=True)
    if trace and len(snapshots) >= 2:
        print("  top growth between the first and last mark (tracemalloc):")
        for stat in snapshots[-1].compare_to(snapshots[0], "traceback")[:8]:
            print(f"    {stat.size_diff / 2**20:+8.2f} MiB {stat.count_diff:+8d} blocks")
            for line in stat.traceback.format()[-6:]:
                print(f"        {line}")
    low, high = count // 10, count
    ratio = figures[high][0] / figures[low][0]
    print(f"peak RSS at {high} claims / at {low} claims: {ratio:.3f} (target <= 1.10)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "silver_claims.csv")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--unique", action="store_true", help="make every claim text unique (embeds each)")
    parser.add_argument("--child", nargs=2, type=Path, metavar=("WORKSPACE", "CLAIMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    count = args.claims
    marks = sorted({count // 10, count // 5, count // 2, count, 1000} - {0})
    if args.child:
        child(args.child[0], args.child[1], count, marks, args.tracemalloc)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        claims = Path(tmp) / "claims.csv"
        subprocess.run(
            [sys.executable, "-m", "claimcourt.cli.app", "index", str(args.data), "--workspace", str(workspace)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        make_claims(args.data, claims, count, unique=args.unique)
        made = "made unique by a suffix" if args.unique else "repeated"
        print(f"{count} claims (the {args.data.name} texts {made}, under new ids), offline profile:", flush=True)
        extra = ["--tracemalloc"] if args.tracemalloc else []
        command = [sys.executable, __file__, "--claims", str(count), *extra, "--child", str(workspace), str(claims)]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
