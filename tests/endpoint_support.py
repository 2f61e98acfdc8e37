"""Real OpenAI-compatible servers for the endpoint tests: `transformers serve` (the CLI of the installed
transformers) serving the tiny models of `hf_tiny` from their folders on 127.0.0.1, a small fault
proxy process (`tests/fault_proxy.py`) in front of it for the 503 and timeout cases, and llama.cpp's
server (`tests/llama_server.py`, from the `xllamacpp` wheel) serving a GGUF file.

transformers serve answers chat and completions but returns no log-probabilities, so it serves the JSON
Judge end to end and is the real "server without logprobs" of the probe test; llama.cpp's server
returns them, and serves the logprobs Judge end to end (tests/integration/test_endpoint_llamacpp.py)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hf_tiny import TinyModels

REQUIRED = os.environ.get("CLAIMCOURT_REQUIRE_SERVICES") == "1"
_START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable(reason: str) -> None:
    """Skip, except in CI (CLAIMCOURT_REQUIRE_SERVICES=1), where a service that cannot start fails."""
    if REQUIRED:
        pytest.fail(f"CLAIMCOURT_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text(errors='replace')[-800:]}")
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"not ready after {timeout:.0f}s: {log.read_text(errors='replace')[-800:]}")


@dataclass
class Served:
    """A process serving the OpenAI API on 127.0.0.1:port."""

    command: list[str]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = _START_TIMEOUT_S) -> Served:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **self.env}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        try:
            _wait_ready(self.url + "/models", self.process, self.log, timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def requests_served(self) -> int:
        return self.log.read_text(errors="replace").count('"POST /v1/')


@contextmanager
def serving(served: Served, what: str, warm_up: Callable[[Served], None] | None = None) -> Iterator[Served]:
    """A module fixture's server: started (and warmed up), stopped after; one that cannot start is
    unavailable (a skip, or a failure in CI)."""
    try:
        served.start()
        if warm_up is not None:
            warm_up(served)
    except Exception as exc:
        served.stop()
        unavailable(f"{what} cannot start: {exc}")
    try:
        yield served
    finally:
        served.stop()


def transformers_serve(log: Path, port: int | None = None) -> Served:
    """`transformers serve` on a free loopback port, models loaded from their folders on first request."""
    exe = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which("transformers")
    if exe is None:
        unavailable("the `transformers` CLI is not installed")
    assert exe is not None
    port = port or free_port()
    command = [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "info"]
    return Served(command, port, log)


def llama_cpp_server(model: Path, log: Path, *, alias: str, parallel: int = 8) -> Served:
    """llama.cpp's server on a free loopback port, serving the GGUF file `model` as `alias`."""
    if importlib.util.find_spec("xllamacpp") is None:
        unavailable("llama.cpp's server is not installed (the xllamacpp wheel): pip install -e '.[dev]'")
    script = Path(__file__).with_name("llama_server.py")
    port = free_port()
    command = [sys.executable, str(script), "--model", str(model), "--port", str(port), "--alias", alias]
    return Served([*command, "--parallel", str(parallel)], port, log)


def fault_proxy(upstream: Served, log: Path, **faults: Any) -> Served:
    """tests/fault_proxy.py in front of `upstream`; faults: fail_first=N (503s), delay_first=N, delay_s=S."""
    port = free_port()
    script = Path(__file__).with_name("fault_proxy.py")
    command = [sys.executable, str(script), "--port", str(port), "--upstream", f"http://127.0.0.1:{upstream.port}"]
    for key, value in faults.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    return Served(command, port, log)


def endpoint_toml(url: str, models: TinyModels, **endpoint: Any) -> str:
    """A claimcourt.toml selecting the endpoint profile, the tiny models served under their folder names."""
    values: dict[str, Any] = {
        "url": url,
        "debater_model": str(models.phi3),
        "judge_model": str(models.mistral),
        "judge_mode": "json",
        "debater_max_new_tokens": 6,
        "judge_json_max_new_tokens": 16,
        "claim_max_chars": 400,
        "neighbour_max_chars": 120,
        "timeout_s": 60.0,
        "max_retries": 2,
    }
    values.update(endpoint)
    lines = ['profile = "endpoint"', "threshold = 0.7", "max_concurrency = 8", "", "[retrieval]", "top_k = 3", ""]
    lines.append("[endpoint]")
    for key, value in values.items():
        if value is None:
            continue
        lines.append(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}")
    return "\n".join(lines) + "\n"


def warm(served: Served, models: TinyModels) -> None:
    """Load both tiny models on the server, so that it lists them and the probe sends no request."""
    import httpx

    for model in (models.phi3, models.mistral):
        body = {"model": str(model), "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        httpx.post(served.url + "/chat/completions", json=body, timeout=120).raise_for_status()


def proxy_stats(proxy: Served) -> dict[str, int]:
    import httpx

    stats: dict[str, int] = httpx.get(f"http://127.0.0.1:{proxy.port}/__stats", timeout=10).json()
    return stats
