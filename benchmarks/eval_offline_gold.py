"""The offline Judge on the three gold sets: index all silver claims, `claimcourt run` each gold file,
`claimcourt eval` it against its own labels, and print the headline metrics side by side.

The gold sets hold the hardest claims (each is the 100 a baseline classifier was least sure about), so
expect accuracy far below the silver cross-validation figures (about 0.75).

    .venv/bin/python benchmarks/eval_offline_gold.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
GOLD = ("gold_dhjerresen.csv", "gold_maximona.csv", "gold_signe.csv")
KEYS = ("accuracy", "f1", "macro_f1", "kappa", "brier", "ece", "coverage", "auto_accuracy")


def claimcourt(*args: str) -> None:
    command = [sys.executable, "-c", "from claimcourt.cli.app import main; main()", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"claimcourt {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def ids_of(path: Path) -> set[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["id"] for row in csv.DictReader(fh)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the workspace and reports here instead of a temp dir")
    parser.add_argument("--target-accuracy", default="0.9")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="claimcourt-gold-"))
    ws = root / "ws"
    silver = DATA / "silver_claims.csv"
    silver_ids = ids_of(silver)

    started = time.perf_counter()
    claimcourt("index", str(silver), "--workspace", str(ws))
    print(f"indexed {len(silver_ids)} silver claims in {time.perf_counter() - started:.1f}s")

    table: dict[str, dict[str, object]] = {}
    for name in GOLD:
        gold = DATA / name
        run_id = Path(name).stem
        overlap = len(ids_of(gold) & silver_ids)
        started = time.perf_counter()
        claimcourt("run", str(gold), "--run-id", run_id, "--workspace", str(ws))
        run_s = time.perf_counter() - started
        out = root / "eval" / run_id
        results = ws / "runs" / run_id / "results.csv"
        claimcourt(
            "eval", str(results), "--gold", str(gold), "--out", str(out), "--workspace", str(ws),
            "--target-accuracy", args.target_accuracy,
        )  # fmt: skip
        metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        search = metrics["threshold_search"] or {}
        table[run_id] = {
            **{k: metrics[k] for k in KEYS},
            "n": metrics["data"]["joined"],
            "routed_judge_accuracy": metrics["selective"]["routed_judge_accuracy"],
            "threshold": metrics["selective"]["threshold"],
            f"threshold_for_{args.target_accuracy}": search.get("threshold"),
            "its_coverage": search.get("coverage"),
            "in_silver_index": overlap,
            "run_s": round(run_s, 1),
        }

    rows = list(next(iter(table.values())))
    print(f"\n{'':28}" + "".join(f"{name:>18}" for name in table))
    for key in rows:
        cells = []
        for values in table.values():
            v = values[key]
            cells.append(f"{v:>18.4f}" if isinstance(v, float) else f"{v!s:>18}")
        print(f"{key:28}" + "".join(cells))
    print(f"\nreports: {root / 'eval'}")


if __name__ == "__main__":
    main()
