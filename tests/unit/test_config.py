from __future__ import annotations

import re
from pathlib import Path

import pytest

from claimcourt.config import load_settings
from claimcourt.errors import ConfigError


def test_defaults_are_the_offline_profile_in_dot_claimcourt() -> None:
    settings = load_settings(environ={})
    assert settings.profile == "offline"
    assert settings.threshold == pytest.approx(0.70)
    assert settings.workspace == Path(".claimcourt")
    assert settings.embedding_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert settings.top_k == 20  # the offline Judge weighs many precedents
    assert settings.model_copy(update={"profile": "hf"}).top_k == 5  # an LLM reads each in its prompt


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "claimcourt.toml").write_text(
        'threshold = 0.8\nmax_concurrency = 7\n[hf]\njudge_model = "/models/from-file"\n[retrieval]\ntop_k = 9\n'
    )
    env = {"CLAIMCOURT_THRESHOLD": "0.85", "CLAIMCOURT_HF__JUDGE_MODEL": "/models/from-env"}
    settings = load_settings(overrides={"workspace": ws}, environ=env)
    assert settings.threshold == pytest.approx(0.85)  # env beats file
    assert settings.hf.judge_model == "/models/from-env"
    assert settings.max_concurrency == 7  # file beats defaults
    assert settings.top_k == 9
    flagged = load_settings(overrides={"workspace": ws, "threshold": 0.9, "profile": None}, environ=env)
    assert flagged.threshold == pytest.approx(0.9)  # flags beat env; None flags are ignored


def test_workspace_from_env_locates_the_config_file(tmp_path: Path) -> None:
    ws = tmp_path / "elsewhere"
    ws.mkdir()
    (ws / "claimcourt.toml").write_text("threshold = 0.6\n")
    settings = load_settings(environ={"CLAIMCOURT_WORKSPACE": str(ws)})
    assert settings.workspace == ws
    assert settings.threshold == pytest.approx(0.6)


def test_profile_decides_the_embedding_model() -> None:
    settings = load_settings(overrides={"profile": "hf"}, environ={})
    assert settings.embedding_model == "AI-Growth-Lab/PatentSBERTa"


def test_unrelated_claimcourt_variables_are_not_settings() -> None:
    settings = load_settings(environ={"CLAIMCOURT_ENDPOINT_API_KEY": "secret", "CLAIMCOURT_NOT_A_SETTING": "x"})
    assert settings.profile == "offline"


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ("threshold = 1.5\n", "threshold"),
        ("[hf]\nnot_a_key = 1\n", "hf.not_a_key"),
        ("threshold = \n", "not valid TOML"),
    ],
)
def test_bad_settings_name_the_file_and_the_key(tmp_path: Path, toml: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_settings(config_file=path, environ={})
    assert str(path) in str(err.value)
    assert fragment in str(err.value)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(config_file=tmp_path / "nope.toml", environ={})


def test_chroma_url_from_file_env_and_flag(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "claimcourt.toml").write_text('[retrieval]\nchroma_url = "http://chroma.lab:8000"\n')
    assert load_settings(overrides={"workspace": ws}, environ={}).retrieval.chroma_url == "http://chroma.lab:8000"
    env = {"CLAIMCOURT_RETRIEVAL__CHROMA_URL": "https://chroma.example.org"}
    from_env = load_settings(overrides={"workspace": ws}, environ=env)
    assert from_env.retrieval.chroma_url == "https://chroma.example.org:443"  # https without a port: 443
    flag = load_settings(overrides={"workspace": ws, "retrieval": {"chroma_url": "http://10.0.0.5"}}, environ=env)
    assert flag.retrieval.chroma_url == "http://10.0.0.5:8000"  # Chroma's own default port
    assert load_settings(environ={}).retrieval.chroma_url is None  # the folder in the workspace


@pytest.mark.parametrize(
    "url", ["chroma.lab:8000", "ftp://chroma.lab", "http://:8000", "http://h:8000/x", "http://h:x"]
)
def test_a_malformed_chroma_url_names_the_setting(tmp_path: Path, url: str) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "claimcourt.toml").write_text(f'[retrieval]\nchroma_url = "{url}"\n')
    with pytest.raises(ConfigError, match=r"claimcourt.toml: setting 'retrieval.chroma_url': .*" + re.escape(url)):
        load_settings(overrides={"workspace": ws}, environ={})
