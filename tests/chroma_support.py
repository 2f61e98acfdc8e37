"""A real `chroma run` server for the client/server retrieval tests: the venv's own `chroma` script,
a temporary --path, a free 127.0.0.1 port, ready once its heartbeat answers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

_READY_TIMEOUT_S = 180.0  # a loaded machine takes many seconds to import chromadb and start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chroma_executable() -> str | None:
    beside = Path(sys.executable).parent / "chroma"
    return str(beside) if beside.exists() else shutil.which("chroma")


def _wait_for_heartbeat(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"chroma run exited with {process.returncode}: {tail}")
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"chroma run did not answer its heartbeat in {_READY_TIMEOUT_S:.0f}s")


# The server process behind each URL chroma_server yields, while it runs (a test may pause it).
RUNNING: dict[str, subprocess.Popen[bytes]] = {}


@contextmanager
def chroma_server(data_dir: Path) -> Iterator[str]:
    """Yield the server's URL; stop it afterwards. Raises RuntimeError when it cannot be started."""
    executable = chroma_executable()
    if executable is None:
        raise RuntimeError("no `chroma` executable (it comes with the chromadb package)")
    log = data_dir / "chroma.log"
    for _attempt in range(3):  # the free port may be taken between probing and binding
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [executable, "run", "--path", str(data_dir / "db"), "--host", "127.0.0.1", "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
            )
        try:
            _wait_for_heartbeat(process, url, log)
        except RuntimeError:
            process.kill()
            process.wait()
            if _attempt == 2:
                raise
            continue
        RUNNING[url] = process
        try:
            yield url
        finally:
            RUNNING.pop(url, None)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return


def services_required() -> bool:
    """CI sets CLAIMCOURT_REQUIRE_SERVICES=1: a service that cannot be started fails, never skips."""
    return os.environ.get("CLAIMCOURT_REQUIRE_SERVICES") == "1"
