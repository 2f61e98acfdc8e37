"""The court learning from its people, on the three shared gold sets (issue 31's figures).

For each gold set: index all silver claims, run the 100 gold claims (threshold 0.70), then a simulated
reviewer decides the waiting claims in the review queue's order (hardest first: lowest confidence) with
the gold label, 20 at a time; after each 20, `learn --rejudge` (the library call behind it) refits the
Judge and judges the run's waiting claims again. After k = 0, 20, 40, 60 decisions, on the claims no
person has decided yet: accuracy, Cohen's kappa, recall per class, how many the Judge decides alone and
its agreement there, and calibrate's threshold and coverage (fixed-sequence, alpha 0.10, delta 0.10,
min_n 30; computed against the gold labels of those claims, as `calibrate --results --gold` does).

Three ways, each on a fresh copy of the indexed workspace: no learning (the silver-only Judge of k = 0
throughout; the people's decisions are made but nothing is refitted), learning with human weight 5, and
learning with human weight 1.

    .venv/bin/python benchmarks/learning_curve.py [--keep DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from claimcourt.config import Settings, load_settings
from claimcourt.eval.guarantee import choose_threshold
from claimcourt.eval.metrics import Scores, accuracy, kappa
from claimcourt.jobs.index import index_file
from claimcourt.jobs.learn import learn
from claimcourt.jobs.runner import Runner
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import HumanDecision
from claimcourt.store import open_store
from claimcourt.tables import ClaimTable

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
GOLD = ("gold_dhjerresen.csv", "gold_maximona.csv", "gold_signe.csv")
STEPS = (0, 20, 40, 60)
BATCH = 20
THRESHOLD = 0.70
WAYS = {"no learning": (False, 5.0), "learn x5": (True, 5.0), "learn x1": (True, 1.0)}
RUN_ID = "gold"


def gold_labels(path: Path) -> dict[str, int]:
    table = ClaimTable(path, with_labels=True)
    return {claim.id: int(claim.label or 0) for chunk in table.chunks(1000) for claim in chunk}


def _recall(truth: np.ndarray, pred: np.ndarray, label: int) -> float:
    mine = truth == label
    return float((pred[mine] == label).mean()) if mine.any() else float("nan")


def measure(settings: Settings, gold: dict[str, int], decided: set[str]) -> dict[str, Any]:
    """The figures on the claims no person has decided yet."""
    with open_store(settings) as store:
        claims = [c for c in store.ledger.claims(RUN_ID) if c.claim_id not in decided]
    states = [(c.status, c.state()) for c in claims]
    rows = [(status, s) for status, s in states if s is not None and s.verdict is not None]
    truth = np.asarray([gold[s.claim_id] for _, s in rows])
    pred = np.asarray([int(s.verdict.label or 0) for _, s in rows if s.verdict])
    confidence = np.asarray([s.verdict.confidence for _, s in rows if s.verdict])
    alone = np.asarray([status == "judge" for status, _ in rows])
    guarantee = choose_threshold(confidence, pred == truth, alpha=0.10, delta=0.10, min_n=30)
    scores = Scores.of(truth, pred)
    return {
        "remaining": len(rows),
        "accuracy": accuracy(scores),
        "kappa": kappa(scores),
        "recall_green": _recall(truth, pred, 1),
        "recall_not_green": _recall(truth, pred, 0),
        "judge_says_green": float(pred.mean()),
        "decided_alone": int(alone.sum()),
        "alone_agreement": float((pred[alone] == truth[alone]).mean()) if alone.any() else float("nan"),
        "waiting": int((~alone).sum()),
        "calibrate_threshold": guarantee.threshold,
        "calibrate_coverage": guarantee.coverage,
    }


async def decide_next(settings: Settings, gold: dict[str, int], decided: set[str]) -> int:
    """The simulated reviewer: the next BATCH claims of the queue (lowest confidence first), gold labels."""
    async with ReviewDesk(settings, RUN_ID) as desk:
        chosen = desk.queue(order="confidence")[:BATCH]
        for claim_id in chosen:
            decision = HumanDecision(label=gold[claim_id], reviewer="gold", note="the gold set's label")
            await desk.decide(claim_id, decision, source="interactive")
            decided.add(claim_id)
    return len(chosen)


def curve(template: Path, root: Path, gold_file: Path, way: str, model: dict[str, Any]) -> list[dict[str, Any]]:
    learns, weight = WAYS[way]
    workspace = root / f"{gold_file.stem}-{way.replace(' ', '-')}"
    shutil.copytree(template, workspace)
    settings = load_settings(
        overrides={"workspace": workspace, "threshold": THRESHOLD, "offline": {**model, "human_weight": weight}},
        environ={},
    )
    gold = gold_labels(gold_file)
    asyncio.run(Runner(settings).run(ClaimTable(gold_file), run_id=RUN_ID))
    decided: set[str] = set()
    points: list[dict[str, Any]] = []
    for k in STEPS:
        started = time.perf_counter()
        made = 0
        while len(decided) < k:
            got = asyncio.run(decide_next(settings, gold, decided))
            made += got
            if learns and got:
                report = asyncio.run(learn(settings, run_id=RUN_ID, rejudge=True))
                record = report.record
            if got < BATCH:
                break  # the queue ran dry
        if points and points[-1]["k"] == len(decided):
            break  # the queue ran dry before k: nothing more to measure
        point = {"set": gold_file.stem, "way": way, "k": len(decided), **measure(settings, gold, decided)}
        if learns and k:
            point.update(
                judge_version=record.version,
                fit_recall_green=record.recall_green,
                fit_recall_not_green=record.recall_not_green,
                recalibration=None if record.recalibration is None else vars(record.recalibration),
            )
        point["step_s"] = round(time.perf_counter() - started, 1)
        print(json.dumps(point), flush=True)
        points.append(point)
    return points


def ceiling(template: Path, gold_file: Path, model: dict[str, Any]) -> dict[str, Any]:
    """What the embeddings allow on these claims: a logistic regression on the claims' own MiniLM
    embeddings and the people's labels, 5-fold cross-validated (silver-only and silver + the training folds
    weighted 5, as `learn` fits), accuracy and kappa on the held-out fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from claimcourt.deps import build_search

    settings = load_settings(overrides={"workspace": template, "offline": model}, environ={})
    search = build_search(settings)
    gold = gold_labels(gold_file)
    table = ClaimTable(gold_file)
    texts = {c.id: c.text for chunk in table.chunks(1000) for c in chunk}
    ids = list(gold)
    x = search.embedder.embed([texts[i] for i in ids])
    y = np.asarray([gold[i] for i in ids])
    _, _, sx, sy = search.store.all_claims()
    figures: dict[str, Any] = {"set": gold_file.stem}
    for name, with_silver, weight in (
        ("gold only", False, 1.0),
        ("silver only", True, 0.0),
        ("silver+gold x5", True, 5.0),
    ):
        pred = np.zeros(len(y), dtype=int)
        for train, held in StratifiedKFold(5, shuffle=True, random_state=0).split(x, y):
            tx, ty, tw = x[train], y[train], np.full(len(train), weight or 1.0)
            if with_silver:
                keep = weight > 0
                tx = np.concatenate([sx, tx]) if keep else sx
                ty = np.concatenate([sy, ty]) if keep else sy
                tw = np.concatenate([np.ones(len(sy)), tw]) if keep else np.ones(len(sy))
            fitted = LogisticRegression(C=4.0, max_iter=2000).fit(tx, ty, sample_weight=tw)
            pred[held] = fitted.predict(x[held])
        scores = Scores.of(y, pred)
        figures[name] = {"accuracy": accuracy(scores), "kappa": kappa(scores)}
    return figures


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.2f}"
    return str(value)


def table(points: list[dict[str, Any]]) -> str:
    keys: tuple[str, ...] = (
        "accuracy",
        "kappa",
        "recall_green",
        "recall_not_green",
        "decided_alone",
        "alone_agreement",
    )
    keys += ("waiting", "calibrate_threshold", "calibrate_coverage")
    head = f"{'set':18}{'way':13}{'k':>4}{'rem':>5}" + "".join(f"{k[:10]:>11}" for k in keys)
    lines = [head]
    for p in points:
        lines.append(
            f"{p['set'][5:]:18}{p['way']:13}{p['k']:>4}{p['remaining']:>5}"
            + "".join(f"{_cell(p[k]):>11}" for k in keys)
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the workspaces here instead of a temp dir")
    parser.add_argument("--json", type=Path, help="write every point here")
    parser.add_argument("--sets", nargs="*", default=list(GOLD))
    parser.add_argument("--ways", nargs="*", default=list(WAYS))
    parser.add_argument("--ceiling", action="store_true", help="only what the embeddings allow (see `ceiling`)")
    parser.add_argument("--embedding-model", help="another sentence encoder (a local path), e.g. all-mpnet-base-v2")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="claimcourt-learning-"))
    template = root / "template"
    started = time.perf_counter()
    model = {"embedding_model": args.embedding_model} if args.embedding_model else {}
    index_file(
        DATA / "silver_claims.csv", load_settings(overrides={"workspace": template, "offline": model}, environ={})
    )
    print(f"indexed silver in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    if args.ceiling:
        for name in args.sets:
            print(json.dumps(ceiling(template, DATA / name, model)))
        return
    points = [p for name in args.sets for way in args.ways for p in curve(template, root, DATA / name, way, model)]
    print(table(points))
    if args.json:
        args.json.write_text(json.dumps(points, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
