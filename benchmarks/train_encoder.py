"""`claimcourt train encoder` on silver_claims.csv: does fine-tuning the encoder help the offline Judge?

k-fold on the silver claims: for each fold, `train_encoder` on the other folds (no held-out share of its
own), then the offline Judge's classifier on the claim embedding (`LinearClassifier`, as `claimcourt
index` fits it) is fitted on the training folds' embeddings and scored on the held-out fold, with the
fine-tuned encoder and with the frozen one. Then one encoder trained on all the silver claims, scored
the same way on the three shared gold sets. Only the classifier is measured, not the whole pipeline
(kNN vote and the weighing of the briefs): `benchmarks/offline_quality.py` measures that one.

    python benchmarks/train_encoder.py [--folds 5] [--epochs 1] [--max-tokens 128]

`--max-tokens` cuts the claims for the frozen encoder too, so both read the same text.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from claimcourt.config import MINILM, load_settings
from claimcourt.jobs.train.encoder import train_encoder
from claimcourt.jobs.train.evaluation import measure
from claimcourt.models.offline.backend import LinearClassifier
from claimcourt.retrieval.embeddings import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
GOLD = ("gold_dhjerresen.csv", "gold_maximona.csv", "gold_signe.csv")


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [{"id": r["id"], "text": r["text"], "label": r["label"]} for r in csv.DictReader(fh)]


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def embed(model: str, texts: list[str], max_tokens: int | None) -> np.ndarray:
    embedder = SentenceTransformerEmbedder(model)
    if max_tokens is not None:
        embedder.model.max_seq_length = max_tokens
    return embedder.embed(texts)


def classifier_numbers(
    train_x: np.ndarray, train_y: list[int], test_x: np.ndarray, test_y: list[int]
) -> dict[str, Any]:
    classifier = LinearClassifier.fit(train_x, np.asarray(train_y), c=4.0, embedding_model="bench")
    return measure(test_y, [classifier.p_green(v) for v in test_x], threshold=0.7)


def tuned(rows: list[dict[str, str]], tmp: Path, args: argparse.Namespace) -> str:
    train = {"held_out": 0.0, "encoder_epochs": args.epochs, "encoder_max_tokens": args.max_tokens, "seed": args.seed}
    settings = load_settings(overrides={"workspace": tmp / "ws", "train": train}, environ={})
    out = tmp / "encoder"
    started = time.perf_counter()
    outcome = train_encoder(settings, write(tmp / "train.csv", rows), out)
    print(f"  trained {outcome.step} steps on {len(rows)} claims in {time.perf_counter() - started:.0f}s", flush=True)
    return str(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rows = read(SHARED / "silver_claims.csv")
    random.Random(args.seed).shuffle(rows)
    labels = [int(r["label"]) for r in rows]
    frozen_x = embed(MINILM, [r["text"] for r in rows], args.max_tokens)
    results: dict[str, list[dict[str, Any]]] = {"frozen": [], "fine_tuned": []}
    for k in range(args.folds):
        test = [i for i in range(len(rows)) if i % args.folds == k]
        train = [i for i in range(len(rows)) if i % args.folds != k]
        with tempfile.TemporaryDirectory() as tmp:
            tuned_x = embed(tuned([rows[i] for i in train], Path(tmp), args), [r["text"] for r in rows], None)
        for name, x in (("frozen", frozen_x), ("fine_tuned", tuned_x)):
            y = [labels[i] for i in train]
            results[name].append(classifier_numbers(x[train], y, x[test], [labels[i] for i in test]))
        print(f"fold {k}: accuracy frozen {results['frozen'][-1]['accuracy']:.3f}, "
              f"fine-tuned {results['fine_tuned'][-1]['accuracy']:.3f}", flush=True)  # fmt: skip
    print(f"\n{args.folds}-fold on {len(rows)} silver claims (the offline Judge's classifier, mean of folds):")
    for key in ("accuracy", "f1", "kappa", "ece"):
        means = {n: float(np.mean([r[key] for r in results[n]])) for n in results}
        print(f"  {key:9s} frozen {means['frozen']:.3f}   fine-tuned {means['fine_tuned']:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        model = tuned(rows, Path(tmp), args)
        texts = [r["text"] for r in rows]
        encoders = {"frozen": (MINILM, args.max_tokens), "fine_tuned": (model, None)}
        fitted = {n: embed(m, texts, t) for n, (m, t) in encoders.items()}
        print("\ntrained on all silver claims, scored on the shared gold sets (accuracy):")
        for name in GOLD:
            gold = read(SHARED / name)
            y = [int(r["label"]) for r in gold]
            cells = []
            for n, (m, t) in encoders.items():
                numbers = classifier_numbers(fitted[n], labels, embed(m, [r["text"] for r in gold], t), y)
                cells.append(f"{n} {numbers['accuracy']:.3f}")
            print(f"  {name:20s} " + "   ".join(cells))


if __name__ == "__main__":
    main()
