"""What a command costs before it does anything, and the message a missing extra gives.

The start-up tests run the console script's `main` in a process of their own and read which modules it
loaded (no timing: the figures are benchmarks/startup.py's). A missing extra is made missing by an
import hook in that process, as on a machine where it was never installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Libraries that cost seconds to import, or that belong to a command of their own.
HEAVY = {
    "torch",
    "transformers",
    "sentence_transformers",
    "langgraph",
    "langchain_core",
    "chromadb",
    "textual",
    "sklearn",
    "scipy",
    "numpy",
    "pandas",
    "pyarrow",
    "matplotlib",
    "fastapi",
    "starlette",
    "uvicorn",
    "openai",
    "psycopg",
    "peft",
}

RUN_MAIN = """
import atexit, json, sys
blocked = set(sys.argv[1].split(",")) - {""}

class Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Uninstalled())
loaded = lambda: sorted({m.split(".")[0] for m in sys.modules})
atexit.register(lambda: sys.__stderr__.write("\\nLOADED " + json.dumps(loaded()) + "\\n"))
sys.argv = ["claimcourt", *sys.argv[2:]]
from claimcourt.cli.app import main
main()
"""


def claimcourt(tmp_path: Path, *args: str, uninstalled: tuple[str, ...] = ()) -> tuple[int, str, set[str]]:
    """Exit code, what it said (stdout and stderr), and the top-level modules it had loaded."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_MAIN, ",".join(uninstalled), *args],
        cwd=tmp_path,
        env={**os.environ, "CLAIMCOURT_WORKSPACE": str(tmp_path / "ws"), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    said, _, loaded = (done.stdout + done.stderr).rpartition("\nLOADED ")
    return done.returncode, " ".join(said.split()), set(json.loads(loaded))


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["run", "--mistyped"], ["pending"], ["serve", "--help"], ["train", "--help"]]
)
def test_starting_a_command_loads_no_heavy_library(tmp_path: Path, args: list[str]) -> None:
    code, said, loaded = claimcourt(tmp_path, *args)
    assert code in (0, 2), said
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


def test_help_lists_every_command(tmp_path: Path) -> None:
    from claimcourt.cli.app import COMMANDS

    code, said, _ = claimcourt(tmp_path, "--help")
    assert code == 0, said
    assert all(f" {name} " in said for name in COMMANDS), said


@pytest.mark.parametrize("missing", ["starlette", "fastapi", "uvicorn"])
def test_serve_without_the_web_extra_says_how_to_install_it(tmp_path: Path, missing: str) -> None:
    code, said, _ = claimcourt(tmp_path, "serve", uninstalled=(missing,))
    assert code == 2, said
    assert said.startswith("error: claimcourt serve needs the web extra"), said
    assert "pip install -e '.[web]'" in said and "Traceback" not in said and "unexpected" not in said


def test_an_extras_module_missing_anywhere_names_its_extra(capsys: pytest.CaptureFixture[str]) -> None:
    """A path that imports an optional package without checking first still ends in the one line."""
    from claimcourt.cli.common import unexpected_error

    code = unexpected_error(ModuleNotFoundError("No module named 'psycopg'", name="psycopg"))

    said = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert (
        said == "error: this command needs the postgres extra (psycopg is not installed): pip install -e '.[postgres]'"
    )


def test_hints_name_claimcourt_as_a_fresh_shell_can_run_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Started as .venv/bin/claimcourt with that folder off PATH (the environment not activated), the
    commands the CLI suggests start with that path; on PATH, with the bare name."""
    from claimcourt.cli.common import claimcourt_command

    script = Path(sys.executable).with_name("claimcourt")
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert claimcourt_command() == str(script)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    assert claimcourt_command() == "claimcourt"
