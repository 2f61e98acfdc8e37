"""`claimcourt train judge | encoder`: the seeds' training steps. Thin: options become `[train]`
settings, the library trains, this prints. torch and transformers load only inside the commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from claimcourt.cli.common import ConfigOpt, WorkspaceOpt, console, settings_from, user_errors
from claimcourt.cli.train_display import ENCODER_SIDES, JUDGE_SIDES, RichProgress, show_evaluation, stopped
from claimcourt.display import as_text

if TYPE_CHECKING:  # the settings and the training load only when a command runs
    from claimcourt.config import Settings
    from claimcourt.jobs.train.data import Columns

train_app = typer.Typer(
    name="train",
    help="Train the hf profile's Judge adapter (judge) or the sentence encoder (encoder) on labelled claims.",
    no_args_is_help=True,
)

TableArg = Annotated[
    Path, typer.Argument(help="CSV or Parquet of id, text, 0/1 label (and label_source: human | silver).")
]
IdColOpt = Annotated[str | None, typer.Option(help="Id column (default: id, doc_id, claim_id, patent_id).")]
TextColOpt = Annotated[str | None, typer.Option(help="Text column (default: text, claim, claim_text).")]
LabelColOpt = Annotated[str | None, typer.Option(help="Label column (default: label, is_green*).")]
SourceColOpt = Annotated[
    str | None, typer.Option(help="Label-source column, human | silver (default: label_source where present).")
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an output folder train wrote before.")]
GoldWeightOpt = Annotated[float | None, typer.Option(help="Weight of a human label against a silver one (default: 5).")]
HeldOutOpt = Annotated[
    float | None, typer.Option(help="Share of the table held out for the evaluation (default: 0.1).")
]
SeedOpt = Annotated[int | None, typer.Option(help="Seed of the split and the training order (default: 0).")]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        min=0.0, max=1.0, help="Confidence threshold of the evaluation's coverage (default: the threshold setting)."
    ),
]

# Options both trainings take, with the same meaning (their defaults are the [train] settings').
EpochsOpt = Annotated[float | None, typer.Option(help="Epochs (default: 1).")]
MaxStepsOpt = Annotated[int | None, typer.Option(help="Stop the whole run after this many steps.")]
SaveStepsOpt = Annotated[int | None, typer.Option(help="A resumable checkpoint every this many steps (default: 200).")]
StopAfterOpt = Annotated[
    int | None, typer.Option(help="Stop at this step with a checkpoint; the same command resumes.")
]


def _train_flags(**values: Any) -> dict[str, Any]:
    return {"train": {k: v for k, v in values.items() if v is not None}}


@train_app.command("judge")
def judge(
    table: TableArg,
    *,
    out: Annotated[Path, typer.Option("--out", "-o", help="The adapter folder to write.")],
    overwrite: OverwriteOpt = False,
    base_model: Annotated[str | None, typer.Option(help="Base model id or path (default: hf.judge_model).")] = None,
    quantization: Annotated[
        str | None, typer.Option(help="auto | nf4 | fp4 | none (default: auto, nf4 on CUDA).")
    ] = None,
    compute_dtype: Annotated[
        str | None, typer.Option(help="auto | bfloat16 | float16 | float32 (default: auto).")
    ] = None,
    optim: Annotated[
        str | None, typer.Option(help="Optimiser (default: auto, paged_adamw_8bit on CUDA, else adamw_torch).")
    ] = None,
    gradient_checkpointing: Annotated[bool | None, typer.Option(help="Recompute activations (default: on).")] = None,
    lora_r: Annotated[int | None, typer.Option(help="LoRA rank (default: 16).")] = None,
    lora_alpha: Annotated[int | None, typer.Option(help="LoRA alpha (default: 32).")] = None,
    lora_dropout: Annotated[float | None, typer.Option(help="LoRA dropout (default: 0.05).")] = None,
    target_modules: Annotated[
        str | None, typer.Option(help="Comma-separated modules (default: q_proj,v_proj).")
    ] = None,
    epochs: EpochsOpt = None,
    max_steps: MaxStepsOpt = None,
    batch_size: Annotated[int | None, typer.Option(help="Claims per micro-batch (default: 4).")] = None,
    grad_accum: Annotated[int | None, typer.Option(help="Micro-batches per optimiser step (default: 4).")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Peak learning rate (default: 2e-4).")] = None,
    lr_scheduler: Annotated[str | None, typer.Option(help="Schedule (default: cosine).")] = None,
    warmup_steps: Annotated[int | None, typer.Option(help="Warm-up steps (default: 50).")] = None,
    claim_max_tokens: Annotated[
        int | None, typer.Option(help="Claim cut, tokens (default: hf.claim_max_tokens).")
    ] = None,
    gold_weight: GoldWeightOpt = None,
    held_out: HeldOutOpt = None,
    seed: SeedOpt = None,
    save_steps: SaveStepsOpt = None,
    logging_steps: Annotated[int | None, typer.Option(help="Steps per loss reading (default: 10).")] = None,
    eval_batch_size: Annotated[int | None, typer.Option(help="Claims per evaluation pass (default: 16).")] = None,
    stop_after_steps: StopAfterOpt = None,
    threshold: ThresholdOpt = None,
    id_col: IdColOpt = None,
    text_col: TextColOpt = None,
    label_col: LabelColOpt = None,
    source_col: SourceColOpt = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train a LoRA adapter (QLoRA on a GPU) for the hf profile's Judge; Ctrl-C checkpoints, a rerun resumes."""
    with user_errors():
        from claimcourt.jobs.train.data import Columns
        from claimcourt.jobs.train.judge import train_judge

        flags = _train_flags(
            base_model=base_model,
            quantization=quantization,
            compute_dtype=compute_dtype,
            optim=optim,
            gradient_checkpointing=gradient_checkpointing,
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules=[m.strip() for m in target_modules.split(",") if m.strip()] if target_modules else None,
            epochs=epochs,
            max_steps=max_steps,
            batch_size=batch_size,
            grad_accum=grad_accum,
            learning_rate=learning_rate,
            lr_scheduler=lr_scheduler,
            warmup_steps=warmup_steps,
            claim_max_tokens=claim_max_tokens,
            gold_weight=gold_weight,
            held_out=held_out,
            seed=seed,
            save_steps=save_steps,
            logging_steps=logging_steps,
            eval_batch_size=eval_batch_size,
        )
        settings = settings_from(workspace=workspace, config=config, threshold=threshold, **flags)
        columns = Columns(id_col, text_col, label_col, source_col)
        outcome = _train_and_report(
            train_judge, settings, table, out, columns, overwrite, stop_after_steps, sides=JUDGE_SIDES
        )
        console.print(
            as_text(f'adapter: {outcome.out} (use it with hf.judge_adapter = "{outcome.out}"; card: README.md)'),
            highlight=False,
            soft_wrap=True,
        )


@train_app.command("encoder")
def encoder(
    table: TableArg,
    *,
    out: Annotated[Path, typer.Option("--out", "-o", help="The sentence-transformers folder to write.")],
    overwrite: OverwriteOpt = False,
    encoder_model: Annotated[
        str | None, typer.Option(help="Encoder to start from, id or path (default: the profile's embedding_model).")
    ] = None,
    epochs: EpochsOpt = None,
    max_steps: MaxStepsOpt = None,
    batch_size: Annotated[int | None, typer.Option(help="Claims per batch, both labels in each (default: 16).")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Peak learning rate (default: 2e-5).")] = None,
    warmup_steps: Annotated[int | None, typer.Option(help="Warm-up steps (default: 10).")] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Tokens of a claim read while training (default: the model's).")
    ] = None,
    gold_weight: GoldWeightOpt = None,
    held_out: HeldOutOpt = None,
    seed: SeedOpt = None,
    save_steps: SaveStepsOpt = None,
    stop_after_steps: StopAfterOpt = None,
    threshold: ThresholdOpt = None,
    id_col: IdColOpt = None,
    text_col: TextColOpt = None,
    label_col: LabelColOpt = None,
    source_col: SourceColOpt = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Fine-tune the sentence encoder (retrieval and the offline Judge) on labelled claims, gold weighted."""
    with user_errors():
        from claimcourt.jobs.train.data import Columns
        from claimcourt.jobs.train.encoder import train_encoder

        flags = _train_flags(
            encoder_model=encoder_model,
            encoder_epochs=epochs,
            max_steps=max_steps,
            encoder_batch_size=batch_size,
            encoder_learning_rate=learning_rate,
            encoder_warmup_steps=warmup_steps,
            encoder_max_tokens=max_tokens,
            gold_weight=gold_weight,
            held_out=held_out,
            seed=seed,
            save_steps=save_steps,
        )
        settings = settings_from(workspace=workspace, config=config, threshold=threshold, **flags)
        columns = Columns(id_col, text_col, label_col, source_col)
        outcome = _train_and_report(
            train_encoder, settings, table, out, columns, overwrite, stop_after_steps, sides=ENCODER_SIDES
        )
        console.print(
            as_text(
                f"encoder: {outcome.out} (set the profile's embedding_model to it, then re-index: claimcourt index ...)"
            ),
            highlight=False,
            soft_wrap=True,
        )


def _train_and_report(
    train: Callable[..., Any],
    settings: Settings,
    table: Path,
    out: Path,
    columns: Columns,
    overwrite: bool,
    stop_after_steps: int | None,
    *,
    sides: dict[str, str],
) -> Any:
    """Run one training (judge or encoder) with rich progress and a stopper (Ctrl-C, or a step limit):
    where a stopped run's checkpoint is and how to resume, else the evaluation side by side."""
    from claimcourt.jobs.train.progress import Stopper

    progress = RichProgress()
    stopper = Stopper(after_steps=stop_after_steps)
    try:
        outcome = train(settings, table, out, columns=columns, overwrite=overwrite, progress=progress, stopper=stopper)
    finally:
        progress.close()
    if not outcome.finished:
        stopped(outcome.stop_reason, outcome.step, outcome.total, outcome.checkpoint, interrupted=stopper.interrupted)
    show_evaluation(outcome.card.get("evaluation") or {}, outcome.card.get("evaluation_order", []), labels=sides)
    return outcome
