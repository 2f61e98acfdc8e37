"""A password in a URL, in every form it takes, is hidden when shown and gone when stored."""

from __future__ import annotations

import pytest

from claimcourt.urls import hidden_in, shown_url, stored_url, without_secrets

SECRET = "S3cr%40t-pw"
CASES = [
    # url, shown, stored
    (
        f"postgresql://ann:{SECRET}@db.example:5432/claims",
        "postgresql://ann:***@db.example:5432/claims",
        "postgresql://ann@db.example:5432/claims",
    ),
    (
        f"postgresql://ann@db.example/claims?password={SECRET}&sslmode=require",
        "postgresql://ann@db.example/claims?password=***&sslmode=require",
        "postgresql://ann@db.example/claims?sslmode=require",
    ),
    (
        f"postgres://db.example/claims?sslmode=require&PassWord={SECRET}&sslpassword={SECRET}",
        "postgres://db.example/claims?sslmode=require&PassWord=***&sslpassword=***",
        "postgres://db.example/claims?sslmode=require",
    ),
    (
        f"postgresql://ann:p@ss{SECRET}@db.example/claims",
        "postgresql://ann:***@db.example/claims",
        "postgresql://ann@db.example/claims",
    ),
    (
        f"postgresql://ann:{SECRET}@[::1/claims?password={SECRET}",
        "postgresql://ann:***@[::1/claims?password=***",
        "postgresql://ann@[::1/claims?password=",
    ),
    (
        f"postgresql://ann:{SECRET}@db.example:notaport/claims",
        "postgresql://ann:***@db.example:notaport/claims",
        "postgresql://ann@db.example:notaport/claims",
    ),
    (
        f"host=db.example password={SECRET} dbname=claims",
        "host=db.example password=*** dbname=claims",
        "host=db.example dbname=claims",
    ),
    (
        f"host=db.example password='{SECRET} x\\' y' dbname=claims",
        "host=db.example password=*** dbname=claims",
        "host=db.example dbname=claims",
    ),
    (
        "postgresql://ann@db.example/claims?passfile=/home/ann/.pgpass",
        "postgresql://ann@db.example/claims?passfile=/home/ann/.pgpass",
        "postgresql://ann@db.example/claims?passfile=/home/ann/.pgpass",
    ),
    ("http://gpu-node:8000/v1", "http://gpu-node:8000/v1", "http://gpu-node:8000/v1"),
]


@pytest.mark.parametrize(("url", "shown", "stored"), CASES)
def test_every_form_of_a_password_is_hidden_and_stripped(url: str, shown: str, stored: str) -> None:
    assert shown_url(url) == shown
    assert stored_url(url) == stored
    assert SECRET not in shown_url(url) and SECRET not in stored_url(url)


def test_settings_are_stored_without_any_secret() -> None:
    settings = {
        "storage_url": f"postgresql://ann:{SECRET}@db/claims",
        "endpoint": {"url": f"http://bob:{SECRET}@gpu:8000/v1", "api_key_env": "KEY"},
        "postgres_url": None,
        "threshold": 0.7,
    }
    stored = without_secrets(settings)
    assert SECRET not in repr(stored)
    assert stored["storage_url"] == "postgresql://ann@db/claims" and stored["threshold"] == 0.7


def test_a_drivers_message_quoting_the_password_is_hidden_too() -> None:
    url = f"postgresql://ann:{SECRET}@db/claims?password={SECRET}x"
    message = f'invalid percent-encoded token: "{SECRET}" (and "S3cr@t-pw", and "{SECRET}x")'
    hidden = hidden_in(message, url)
    assert "S3cr" not in hidden and hidden.count("***") == 3
