"""The sentence-transformers side of `train encoder`. Imports sentence-transformers and datasets at
import time: import it only where training starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasets import Dataset, disable_progress_bars
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from transformers import PrinterCallback

from claimcourt.config import Settings
from claimcourt.jobs.train.data import TrainingRow

try:  # sentence-transformers 6 moved these; 3-5 have them at the top level
    from sentence_transformers.sentence_transformer.losses import BatchAllTripletLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers
except ImportError:
    from sentence_transformers.losses import BatchAllTripletLoss  # type: ignore[no-redef]
    from sentence_transformers.training_args import BatchSamplers  # type: ignore[no-redef]


def make_trainer(
    model: Any, settings: Settings, work: Path, rows: list[TrainingRow], callbacks: list[Any], *, cuda: bool
) -> SentenceTransformerTrainer:
    t = settings.train
    args = SentenceTransformerTrainingArguments(
        output_dir=str(work),
        num_train_epochs=t.encoder_epochs,
        max_steps=t.max_steps or -1,
        per_device_train_batch_size=t.encoder_batch_size,
        learning_rate=t.encoder_learning_rate,
        warmup_steps=t.encoder_warmup_steps,
        # Every batch holds claims of both labels, two or more of each: triplets need them.
        batch_sampler=BatchSamplers.GROUP_BY_LABEL,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=2,
        logging_steps=t.logging_steps,
        seed=t.seed,
        data_seed=t.seed,
        use_cpu=not cuda,
        report_to="none",
        disable_tqdm=True,
    )
    disable_progress_bars()  # datasets' bars (the model card's examples): the CLI draws its own progress
    dataset = Dataset.from_dict({"text": [r.text for r in rows], "label": [r.label for r in rows]})
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, loss=BatchAllTripletLoss(model), callbacks=callbacks
    )
    trainer.remove_callback(PrinterCallback)
    return trainer
