"""`claimcourt train encoder`: the sentence encoder used for retrieval and the offline Judge, fine-tuned
on the training table with sentence-transformers' trainer and a contrastive objective over labels
(BatchAllTripletLoss: a claim nearer to claims of its own label than to the others), human labels
weighted by repeating each `round(gold_weight)` times (the triplet losses take no per-row weights).

The evaluation is the offline Judge's classifier (`LinearClassifier`, fitted on the training claims'
embeddings as `claimcourt index` fits it) on the held-out share, with the fine-tuned encoder and with
the one it started from. The output is a sentence-transformers folder that `*.embedding_model`
accepts by path; the store then needs a re-index (it refuses a second model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from claimcourt.config import Settings
from claimcourt.errors import ConfigError
from claimcourt.extras import missing
from claimcourt.jobs.train.card import write_card
from claimcourt.jobs.train.data import Columns, TrainingData, TrainingRow, read_training_table
from claimcourt.jobs.train.evaluation import SHOWN, measure
from claimcourt.jobs.train.folders import last_checkpoint, plan_folders
from claimcourt.jobs.train.progress import NoProgress, Stopper, TrainProgress, trainer_callback
from claimcourt.jobs.train.recipe import Machine
from claimcourt.models.offline.backend import LinearClassifier
from claimcourt.retrieval.embeddings import SentenceTransformerEmbedder


@dataclass(frozen=True)
class EncoderOutcome:
    out: Path
    finished: bool
    step: int
    total: int
    checkpoint: Path | None
    stop_reason: str | None
    card: dict[str, Any] = field(default_factory=dict)


def weighted(rows: list[TrainingRow], gold_weight: float) -> list[TrainingRow]:
    """Each human row `round(gold_weight)` times (at least once), silver rows once."""
    copies = max(1, round(gold_weight))
    return [r for r in rows for _ in range(copies if r.human else 1)]


def offline_judge_numbers(
    model: str, data: TrainingData, *, c: float, threshold: float, batch_size: int
) -> dict[str, Any]:
    """The offline Judge's classifier on the claim embedding, fitted on the training rows with this
    encoder, scored on the held-out rows."""
    embedder = SentenceTransformerEmbedder(model, batch_size=batch_size)
    train_vectors = embedder.embed([r.text for r in data.train])
    classifier = LinearClassifier.fit(
        train_vectors, np.asarray([r.label for r in data.train]), c=c, embedding_model=model
    )
    held = embedder.embed([r.text for r in data.held_out])
    return measure([r.label for r in data.held_out], [classifier.p_green(v) for v in held], threshold=threshold)


def _recipe(settings: Settings, base: str, machine: Machine) -> dict[str, Any]:
    t = settings.train
    return {
        "base_encoder": base,
        "objective": "BatchAllTripletLoss over labels, batches grouped by label",
        "epochs": t.encoder_epochs,
        "max_steps": t.max_steps,
        "batch_size": t.encoder_batch_size,
        "learning_rate": t.encoder_learning_rate,
        "warmup_steps": t.encoder_warmup_steps,
        "max_tokens": t.encoder_max_tokens,
        "gold_weight": t.gold_weight,
        "gold_weighting": f"each human row {max(1, round(t.gold_weight))} times",
        "held_out": t.held_out,
        "seed": t.seed,
        "save_steps": t.save_steps,
        "device": "cuda" if machine.cuda else "cpu",
    }


def train_encoder(
    settings: Settings,
    table: Path,
    out: Path,
    *,
    columns: Columns | None = None,
    overwrite: bool = False,
    progress: TrainProgress | None = None,
    stopper: Stopper | None = None,
    machine: Machine | None = None,
) -> EncoderOutcome:
    progress = progress or NoProgress()
    stopper = stopper or Stopper()
    machine = machine or Machine.here()
    t = settings.train
    base = t.encoder_model or settings.embedding_model
    if base.startswith((".", "/", "~")) and not Path(base).expanduser().exists():
        raise ConfigError(f"train.encoder_model: '{base}' does not exist")
    data = read_training_table(table, held_out=t.held_out, seed=t.seed, columns=columns)
    recipe = _recipe(settings, base, machine)
    job = {"kind": "encoder", "recipe": recipe, "data": data.fingerprint}
    folders = plan_folders(out, job, overwrite=overwrite)

    progress.phase(f"loading {base}")
    try:  # sentence-transformers' trainer and datasets: only once training starts
        from claimcourt.jobs.train import encoder_trainer
    except ImportError as exc:
        raise missing("train", "train encoder", exc.name) from exc

    model = SentenceTransformerEmbedder(base).model
    if t.encoder_max_tokens is not None:
        model.max_seq_length = t.encoder_max_tokens
    folders.start(job, overwrite=overwrite)
    rows = weighted(data.train, t.gold_weight)
    callback = trainer_callback(progress, stopper, lambda: 0)
    trainer = encoder_trainer.make_trainer(model, settings, folders.work, rows, [callback], cuda=machine.cuda)
    resumed = str(folders.resume_from) if folders.resume_from is not None else None
    started = time.monotonic()
    with stopper.on_ctrl_c():
        trainer.train(resume_from_checkpoint=resumed)
    state = trainer.state
    if state.global_step < state.max_steps:
        checkpoint = last_checkpoint(folders.work)
        return EncoderOutcome(folders.out, False, state.global_step, state.max_steps, checkpoint, stopper.reason)
    trained_s = time.monotonic() - started
    folders.out.mkdir(parents=True, exist_ok=True)
    model.save(str(folders.out))

    if data.held_out:
        progress.phase(f"evaluating the offline Judge's classifier on {len(data.held_out)} held-out claims")
    training = {"steps": state.global_step, "seconds_this_run": round(trained_s, 1), "rows_trained": len(rows)}
    card = encoder_card(settings, base, folders.out, data, recipe, training)
    write_card(folders.out, card)
    folders.finish()
    return EncoderOutcome(folders.out, True, state.global_step, state.max_steps, None, None, card)


def encoder_card(
    settings: Settings, base: str, out: Path, data: TrainingData, recipe: dict[str, Any], training: dict[str, Any]
) -> dict[str, Any]:
    """The card, with the offline Judge's classifier on the held-out claims, fine-tuned against frozen."""
    evaluation: dict[str, Any] = {}
    if data.held_out:
        numbers = {"c": settings.offline.lr_c, "threshold": settings.threshold}
        batch = settings.retrieval.batch_size
        evaluation = {
            "fine_tuned": offline_judge_numbers(str(out), data, batch_size=batch, **numbers),
            "frozen": offline_judge_numbers(base, data, batch_size=batch, **numbers),
        }
    return {
        "title": "claimcourt sentence encoder",
        "summary": f"`{base}` fine-tuned by `claimcourt train encoder` on labelled patent claims (green, CPC Y02).",
        "kind": "encoder",
        "data": {
            "table": str(data.path),
            "fingerprint": data.fingerprint,
            "source_column": data.source_column,
            "counts": data.counts(),
        },
        "recipe": recipe,
        "evaluation": evaluation,
        "evaluation_order": [*SHOWN, "n", "threshold"],
        "training": training,
        "usage": (
            f"Set `offline.embedding_model` (or the active profile's) to `{out}` and re-index: "
            "`claimcourt index LABELLED.csv` (the store refuses vectors of a second model: use a fresh workspace "
            "or collection)."
        ),
    }
