"""Does the calibrated threshold keep its promise on claims it has not seen? The gold files, split.

Index all silver claims, run each gold file through the whole offline pipeline, then 20 seeded times
per gold file: split its claims in half, calibrate on one half (`eval.guarantee.choose_threshold`:
Clopper-Pearson, fixed-sequence testing), apply the threshold to the other half. Prints the mean
coverage and the mean agreement with the gold labels on the auto-decided claims of the held-out half,
next to the fixed 0.70 threshold's, and in how many splits agreement fell below 1 - alpha.

With 50 calibration claims and min_n 30 the bound is demanding: a split where no threshold qualifies
decides nothing alone (coverage 0) and cannot fall below 1 - alpha.

    python benchmarks/calibrate_gold_splits.py [--splits 20] [--alpha 0.10 0.20 0.30] [--delta 0.10] [--min-n 30]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from claimcourt.config import load_settings
from claimcourt.eval.guarantee import choose_threshold
from claimcourt.jobs.index import index_file
from claimcourt.jobs.runner import Runner
from claimcourt.tables import ClaimTable

ROOT = Path(__file__).resolve().parents[1]
SHARED = next(
    (p for p in (ROOT / ".." / "shared" / "data", ROOT / ".." / ".." / "shared" / "data") if p.is_dir()),
    ROOT / ".." / "shared" / "data",
)
GOLD = ("gold_dhjerresen.csv", "gold_maximona.csv", "gold_signe.csv")
FIXED = 0.70


def judged(results: Path, gold: Path) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, the Judge agrees with gold) for every claim with a readable verdict."""
    with gold.open(encoding="utf-8", newline="") as fh:
        labels = {r["id"]: int(r["label"]) for r in csv.DictReader(fh)}
    conf, agrees = [], []
    with results.open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["judge_label"] != "" and r["id"] in labels:
                conf.append(float(r["confidence"]))
                agrees.append(int(r["judge_label"]) == labels[r["id"]])
    return np.asarray(conf), np.asarray(agrees, dtype=bool)


def held_out(conf: np.ndarray, agrees: np.ndarray, threshold: float | None) -> tuple[float, float | None]:
    """Coverage and agreement on the auto-decided claims at this threshold (None: nothing decided)."""
    if threshold is None:
        return 0.0, None
    auto = conf >= threshold
    return float(auto.mean()), (float(agrees[auto].mean()) if auto.any() else None)


def splits(conf: np.ndarray, agrees: np.ndarray, alpha: float, args: argparse.Namespace) -> dict[str, object]:
    cal_cov, cal_agr, fix_cov, fix_agr, thresholds, needed = [], [], [], [], [], []
    below = none = 0
    for seed in range(args.splits):
        order = np.random.default_rng(seed).permutation(len(conf))
        half = len(conf) // 2
        cal, test = order[:half], order[half:]
        found = choose_threshold(conf[cal], agrees[cal], alpha=alpha, delta=args.delta, min_n=args.min_n)
        coverage, agreement = held_out(conf[test], agrees[test], found.threshold)
        cal_cov.append(coverage)
        if found.threshold is None:
            none += 1
            if found.needed_more is not None:
                needed.append(found.needed_more)
        else:
            thresholds.append(found.threshold)
        if agreement is not None:
            cal_agr.append(agreement)
            below += agreement < 1 - alpha
        coverage, agreement = held_out(conf[test], agrees[test], FIXED)
        fix_cov.append(coverage)
        if agreement is not None:
            fix_agr.append(agreement)

    def mean(values: list[float]) -> float:
        return float(np.mean(values)) if values else float("nan")

    return {
        "claims": len(conf),
        "calibrated_coverage": mean(cal_cov),
        "calibrated_agreement": mean(cal_agr),
        "calibrated_threshold": mean(thresholds),
        "splits_below_1-alpha": below,
        "splits_without_threshold": none,
        "  more audited claims needed": mean(needed),
        "fixed_coverage": mean(fix_cov),
        "fixed_agreement": mean(fix_agr),
        "fixed_splits_below_1-alpha": sum(a < 1 - alpha for a in fix_agr),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.10, 0.20, 0.30])
    parser.add_argument("--delta", type=float, default=0.10)
    parser.add_argument("--min-n", type=int, default=30)
    args = parser.parse_args()
    judged_sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(overrides={"workspace": Path(tmp) / "ws", "threshold": FIXED}, environ={})
        started = time.perf_counter()
        index_file(args.data / "silver_claims.csv", settings)
        print(f"indexed the silver claims in {time.perf_counter() - started:.0f}s")
        for name in GOLD:
            gold = args.data / name
            summary = asyncio.run(Runner(settings).run(ClaimTable(gold), run_id=Path(name).stem))
            judged_sets[Path(name).stem] = judged(summary.results_csv, gold)
    for alpha in args.alpha:
        table = {name: splits(conf, agrees, alpha, args) for name, (conf, agrees) in judged_sets.items()}
        print(
            f"\nalpha {alpha}, delta {args.delta}, min_n {args.min_n}; {args.splits} seeded half/half splits per "
            "gold file; agreement = the Judge's label equals gold, on the held-out half's auto-decided claims"
        )
        print(f"{'':30}" + "".join(f"{name:>18}" for name in table))
        for key in next(iter(table.values())):
            cells = [table[name][key] for name in table]
            print(f"{key:30}" + "".join(f"{v:>18.3f}" if isinstance(v, float) else f"{v!s:>18}" for v in cells))


if __name__ == "__main__":
    main()
