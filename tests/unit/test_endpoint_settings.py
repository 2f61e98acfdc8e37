"""`[endpoint]` settings from file, environment and flags, and the ones refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from claimcourt.config import load_settings
from claimcourt.errors import ConfigError
from claimcourt.models.endpoint.client import require_settings


def test_environment_and_flags_fill_the_endpoint_section(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[endpoint]\nurl = "http://file-host:8000/v1/"\njudge_model = "judge"\n', encoding="utf-8")
    environ = {"CLAIMCOURT_ENDPOINT__DEBATER_MODEL": "phi3", "CLAIMCOURT_ENDPOINT__MAX_IN_FLIGHT": "8"}
    settings = load_settings(config_file=config, environ=environ, overrides={"endpoint": {"url": None}})
    assert settings.endpoint.url == "http://file-host:8000/v1"  # a trailing slash is dropped
    assert (settings.endpoint.debater_model, settings.endpoint.max_in_flight) == ("phi3", 8)
    flagged = load_settings(config_file=config, environ=environ, overrides={"endpoint": {"url": "https://gpu:1/v1"}})
    assert flagged.endpoint.url == "https://gpu:1/v1" and flagged.endpoint.judge_mode == "logprobs"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('url = "gpu-node:8000/v1"', "setting 'endpoint.url'"),
        ('url = "file:///etc/passwd"', "is not an http(s) URL"),
        ('judge_mode = "logits"', "setting 'endpoint.judge_mode'"),
        ("max_in_flight = 0", "setting 'endpoint.max_in_flight'"),
    ],
)
def test_bad_endpoint_settings(tmp_path: Path, section: str, message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[endpoint]\n{section}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(config_file=config, environ={})


def test_a_missing_model_name_is_named() -> None:
    settings = load_settings(environ={}, overrides={"endpoint": {"url": "http://h:1/v1", "debater_model": "d"}})
    with pytest.raises(ConfigError, match=r"setting 'endpoint.judge_model' is required"):
        require_settings(settings.endpoint)
