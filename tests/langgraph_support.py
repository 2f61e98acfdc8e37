"""A real `langgraph dev` server on the repository's langgraph.json: the venv's own `langgraph` script, a
free 127.0.0.1 port, its working folder a temporary one (it keeps its in-memory state there between
restarts: each test starts afresh), ready once its /ok endpoint answers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.chroma_support import free_port

ROOT = Path(__file__).resolve().parents[1]
# The server imports the graph module, then the first run builds the embedder and the index: generous,
# since the machine's cores may be busy with other work. Polled, so a quick start returns at once.
_READY_TIMEOUT_S = 180.0


def langgraph_executable() -> str | None:
    beside = Path(sys.executable).parent / "langgraph"
    return str(beside) if beside.exists() else shutil.which("langgraph")


def _wait_until_ok(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"langgraph dev exited with {process.returncode}: {log.read_text(errors='replace')[-3000:]}"
            )
        try:
            if httpx.get(f"{url}/ok", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"langgraph dev did not answer /ok in {_READY_TIMEOUT_S:.0f}s: {log.read_text()[-3000:]}")


@contextmanager
def langgraph_dev(folder: Path, env: Mapping[str, str]) -> Iterator[str]:
    """Yield the server's URL; stop it afterwards. Raises RuntimeError when it cannot be started."""
    executable = langgraph_executable()
    if executable is None:
        raise RuntimeError("no `langgraph` executable: install the langgraph extra (langgraph-cli[inmem])")
    log = folder / "langgraph-dev.log"
    for attempt in range(3):  # the free port may be taken between probing and binding
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [executable, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port),
                 "--config", str(ROOT / "langgraph.json")],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env={**os.environ, "LANGGRAPH_NO_VERSION_CHECK": "true", "LANGSMITH_TRACING": "false", **env},
            )  # fmt: skip
        try:
            _wait_until_ok(process, url, log)
        except RuntimeError:
            process.kill()
            process.wait()
            if attempt == 2:
                raise
            continue
        try:
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return
