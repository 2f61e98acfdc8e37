"""Talking to an OpenAI-compatible server: the client, and the probe that checks the server before a run.

The `openai` package's client does the HTTP: it retries refused connections, timeouts, 408, 409, 429
and 5xx answers up to `max_retries` times with exponential backoff and random jitter (0.5 s doubling
to 8 s, each cut by up to a quarter, or the server's Retry-After), then raises; the runner records that
claim as `error` with the server's message and goes on.

The probe runs once, synchronously, before any claim is touched: it asks the server for its models
and sends each configured model one tiny request, so a wrong url, a missing key, a model the server
does not serve, or a server without log-probabilities stops the run with one line saying what to fix.
"""

from __future__ import annotations

import os
from typing import Any

from claimcourt.config import EndpointSettings
from claimcourt.errors import ConfigError, EndpointError
from claimcourt.extras import missing
from claimcourt.models.endpoint.logprobs import top_at_answer

# The openai client refuses an empty key; servers started without --api-key ignore whatever is sent.
NO_KEY = "EMPTY"
_PROBE_TIMEOUT_S = 30.0
PROBE_PROMPT = "### Answer:"


def api_key(settings: EndpointSettings) -> str:
    return os.environ.get(settings.api_key_env) or NO_KEY


def require_settings(settings: EndpointSettings) -> tuple[str, str, str]:
    """The url and both model names, or a ConfigError naming the missing setting."""
    for key in ("url", "debater_model", "judge_model"):
        if not getattr(settings, key):
            raise ConfigError(f"setting 'endpoint.{key}' is required by the endpoint profile ([endpoint] {key} = ...)")
    assert settings.url and settings.debater_model and settings.judge_model
    return settings.url, settings.debater_model, settings.judge_model


def _openai() -> Any:
    try:
        import openai
    except ImportError as exc:
        raise missing("endpoint", "the endpoint profile", "openai") from exc
    return openai


def async_client(settings: EndpointSettings) -> Any:
    AsyncOpenAI = _openai().AsyncOpenAI

    url, _, _ = require_settings(settings)
    return AsyncOpenAI(
        base_url=url, api_key=api_key(settings), timeout=settings.timeout_s, max_retries=settings.max_retries
    )


def server_message(exc: Exception) -> str:
    """What the server said, on one line: its error body's message where there is one."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        detail = inner.get("message") or inner.get("detail") if isinstance(inner, dict) else inner
        if detail:
            return " ".join(str(detail).split())
    return " ".join(str(exc).split())


def _failure(exc: Exception, settings: EndpointSettings, what: str) -> EndpointError:
    import openai

    url = settings.url
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        unset = "" if os.environ.get(settings.api_key_env) else f" ({settings.api_key_env} is not set)"
        return EndpointError(
            f"the server at {url} refused the API key{unset}: set the variable named by [endpoint] "
            f"api_key_env ('{settings.api_key_env}') to the server's key"
        )
    if isinstance(exc, openai.APITimeoutError):
        return EndpointError(f"the server at {url} did not answer {what} within {_PROBE_TIMEOUT_S:.0f}s")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return EndpointError(
            f"cannot reach the server at {url} ({' '.join(str(cause).split()) or type(cause).__name__}): "
            "check [endpoint] url and that the server is running"
        )
    if isinstance(exc, openai.APIStatusError):
        return EndpointError(f"the server at {url} cannot serve {what} ({exc.status_code}: {server_message(exc)})")
    return EndpointError(f"the server at {url} gave an unusable answer to {what}: {server_message(exc)}")


def probe(settings: EndpointSettings) -> None:
    """Raise EndpointError (or ConfigError) unless the server answers, serves both models and, in
    logprobs mode, returns log-probabilities for the Judge. Costs three one-token requests."""
    OpenAI = _openai().OpenAI

    url, debater, judge = require_settings(settings)
    client = OpenAI(base_url=url, api_key=api_key(settings), timeout=_PROBE_TIMEOUT_S, max_retries=1)
    try:
        try:
            listed = _listed_names(client.models.list())
        except Exception as exc:
            raise _failure(exc, settings, "the model list (GET /models)") from exc
        for role, name in (("debater_model", debater), ("judge_model", judge)):
            if name in listed:
                continue
            # Some servers (transformers serve) list a model only once it is loaded: ask it directly.
            served = ", ".join(sorted(listed)) or "none listed"
            fix = f"it serves: {served}: set [endpoint] {role} to a name the server serves"
            try:
                reply = client.chat.completions.create(
                    model=name, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1
                )
            except Exception as exc:
                message = server_message(exc)
                raise EndpointError(f"the server at {url} does not serve model '{name}' ({message}); {fix}") from exc
            # A server of one model (llama.cpp's) answers whatever name it is sent, as the model it has.
            answered = getattr(reply, "model", None)
            if answered and answered != name and answered in listed:
                raise EndpointError(
                    f"the server at {url} does not serve model '{name}' (it answered as '{answered}'); {fix}"
                )
        if settings.judge_mode == "logprobs":
            _probe_logprobs(client, settings, judge)
    finally:
        client.close()


def _listed_names(models: Any) -> set[str]:
    """The names a server lists: each model's id, and the other names llama.cpp's server lists it under."""
    names = set()
    for model in models:
        names.add(str(model.id))
        aliases = (getattr(model, "model_extra", None) or {}).get("aliases")
        if isinstance(aliases, list):
            names.update(str(alias) for alias in aliases)
    return names


def _probe_logprobs(client: Any, settings: EndpointSettings, judge: str) -> None:
    try:
        reply = client.completions.create(
            model=judge, prompt=PROBE_PROMPT, max_tokens=1, temperature=0.0, logprobs=settings.top_logprobs
        )
    except Exception as exc:
        raise _failure(exc, settings, f"a completion with logprobs from '{judge}'") from exc
    if not reply.choices or top_at_answer(reply.choices[0]) is None:
        raise EndpointError(
            f"the server at {settings.url} returned no logprobs for '{judge}': use judge_mode = \"json\" "
            "in [endpoint], or a server that returns them (vLLM, SGLang, llama.cpp's llama-server)"
        )
