"""A storage_url that cannot be used: one line naming it, exit code 2, nothing created."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/x", "only postgresql://user@host[:port]/database is supported"),
        ("postgresql://host:notaport/db", "is not a valid URL"),
        ("postgresql://user@host", "names no database"),
        (f"postgresql://nobody:secret@127.0.0.1:{_closed_port()}/db", "cannot connect"),
    ],
)
def test_a_bad_storage_url_is_one_line_and_exit_2(tmp_path: Path, url: str, message: str) -> None:
    for args in (["runs", "--storage-url", url], ["pending"]):
        result = CliRunner().invoke(app, [*args, "-w", str(tmp_path / "ws")], env={"CLAIMCOURT_STORAGE_URL": url})
        out = " ".join(result.output.split())
        assert result.exit_code == 2, result.output
        assert message in out and "Traceback" not in result.output
        assert "secret" not in out  # a password never reaches the terminal
        assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "ws").exists()


def test_the_old_postgres_settings_are_refused_with_a_hint(tmp_path: Path) -> None:
    env = {"CLAIMCOURT_CHECKPOINTER": "postgres", "CLAIMCOURT_POSTGRES_URL": "postgresql://h/db"}
    result = CliRunner().invoke(app, ["runs", "-w", str(tmp_path)], env=env)
    assert result.exit_code == 2
    assert "replaced by storage_url" in " ".join(result.output.split())
