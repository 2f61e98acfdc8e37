"""`claimcourt train judge` from the command line: a run stopped at a step says how to resume and the
same command finishes it; bad input is one line naming what is wrong, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.jobs.train.card import CARD_JSON
from tests.conftest import write_csv
from tests.hf_tiny import TinyModels, build_tiny_models
from tests.train_support import cli_flags, training_csv, training_rows


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return build_tiny_models(tmp_path_factory.mktemp("tiny-train-cli"))


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["train", "judge", *args])
    return result.exit_code, result.output


def one_line_error(code: int, out: str, *needles: str) -> None:
    assert code == 2, out
    assert "Traceback" not in out and out.count("error:") == 1, out
    flat = " ".join(out.split())
    for needle in needles:
        assert needle in flat, flat


def test_stop_at_a_step_then_the_same_command_finishes_with_the_evaluation(tiny: TinyModels, tmp_path: Path) -> None:
    table = training_csv(tmp_path / "train.csv")
    args = [str(table), "--out", str(tmp_path / "adapter"), "--base-model", str(tiny.mistral), "--threshold", "0.6"]
    args += cli_flags(max_steps=4)
    code, out = invoke(*args, "--stop-after-steps", "2")
    assert code == 0, out
    assert "at step 2 of 4" in " ".join(out.split()) and "run the same command again to resume" in out
    assert (tmp_path / "adapter.training" / "checkpoint-2").is_dir()
    code, out = invoke(*args)
    assert code == 0, out
    assert "resuming at step 2 of 4" in out
    assert "adapter on" in out and "base (adapter off)" in out and "kappa" in out
    card = json.loads((tmp_path / "adapter" / CARD_JSON).read_text())
    assert card["training"]["steps"] == 4 and card["training"]["resumed_from_step"] == 2
    assert card["evaluation"]["adapter"]["threshold"] == card["evaluation"]["base"]["threshold"] == 0.6
    # The folder is now an adapter: a third run refuses to replace it without --overwrite.
    code, out = invoke(*args)
    one_line_error(code, out, "the output folder exists", "--overwrite")


def nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "adapter").exists() and not (tmp_path / "adapter.training").exists()


@pytest.mark.parametrize(
    ("rows", "columns", "needles"),
    [
        ([{"id": "a", "text": "A solar panel."}], ["id", "text"], ["train.csv", "no label column found"]),
        (
            [{"id": "a", "text": "A solar panel.", "label": 1}, {"id": "b", "text": "A shoe.", "label": 2}],
            ["id", "text", "label"],
            ["train.csv, row 2, column 'label'", "label must be 0 or 1, got '2'"],
        ),
        (
            [
                {"id": "a", "text": "A solar panel.", "label": 1, "label_source": "silver"},
                {"id": "b", "text": "A shoe.", "label": 0, "label_source": "judge"},
            ],
            ["id", "text", "label", "label_source"],
            ["train.csv, row 2, column 'label_source'", "human or silver, got 'judge'"],
        ),
    ],
)
def test_a_bad_table_is_one_line_with_file_row_and_column(
    tiny: TinyModels, tmp_path: Path, rows: list[dict[str, object]], columns: list[str], needles: list[str]
) -> None:
    table = write_csv(tmp_path / "train.csv", rows, columns)
    code, out = invoke(str(table), "--out", str(tmp_path / "adapter"), "--base-model", str(tiny.mistral))
    one_line_error(code, out, *needles)
    nothing_written(tmp_path)


def test_a_missing_base_model_path_is_refused(tmp_path: Path) -> None:
    table = training_csv(tmp_path / "train.csv")
    code, out = invoke(str(table), "--out", str(tmp_path / "adapter"), "--base-model", str(tmp_path / "no-model"))
    one_line_error(code, out, "train.base_model", "does not exist")
    nothing_written(tmp_path)


def test_an_output_folder_that_exists_is_refused(tiny: TinyModels, tmp_path: Path) -> None:
    table = training_csv(tmp_path / "train.csv")
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "notes.txt").write_text("mine")
    args = [str(table), "--out", str(tmp_path / "adapter"), "--base-model", str(tiny.mistral)]
    one_line_error(*invoke(*args), "the output folder exists")
    # --overwrite replaces only a folder train wrote: this one holds someone's notes.
    one_line_error(*invoke(*args, "--overwrite"), "is not a folder claimcourt train wrote")
    assert (tmp_path / "adapter" / "notes.txt").read_text() == "mine"


def test_a_gpu_only_option_on_a_cpu_machine_is_refused(tiny: TinyModels, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    table = write_csv(tmp_path / "train.csv", training_rows(8))
    base = ["--out", str(tmp_path / "adapter"), "--base-model", str(tiny.mistral)]
    one_line_error(*invoke(str(table), *base, "--quantization", "nf4"), "train.quantization = 'nf4' needs a CUDA GPU")
    one_line_error(*invoke(str(table), *base, "--optim", "paged_adamw_8bit"), "needs a CUDA GPU")
    nothing_written(tmp_path)
