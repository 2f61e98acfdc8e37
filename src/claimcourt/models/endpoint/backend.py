"""The endpoint profile: the debate's models behind an OpenAI-compatible server.

vLLM, SGLang, llama.cpp's llama-server and transformers serve batch concurrent requests themselves, so
this backend batches nothing: every `argue` and `judge` is one request, at most `max_in_flight` at once,
and the graph's concurrent claims keep the server's batches full. The Advocate and the Skeptic get the
same first bytes (precedents, the fenced claim: `prompts.evidence.DEBATE_CONTEXT`) and differ only in
their task at the end, so a server with prefix caching computes the shared part once per claim.

The Judge reads its confidence from the server's log-probabilities (`endpoint_logprobs`) through the
completions API in the adapter's own instruction format, or, in `judge_mode = "json"`, asks the chat API
for a JSON verdict (`judge_json`). Prompts and the served model names go into the debate record.
"""

from __future__ import annotations

import asyncio
from typing import Any

from claimcourt.config import EndpointSettings, Settings
from claimcourt.models.base import DebateBackend
from claimcourt.models.endpoint import client as endpoint_client
from claimcourt.models.endpoint.logprobs import logprob_verdict
from claimcourt.models.judge_json import ChatMessage, judge_by_json
from claimcourt.models.registry import register_backend
from claimcourt.prompts import evidence, roles
from claimcourt.prompts import judge as judge_prompts
from claimcourt.prompts.roles import RolePrompts
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.state import Argument, ClaimState, Neighbour, Role, Verdict

BACKEND_NAME = "endpoint"


def cut(text: str, limit: int) -> tuple[str, bool]:
    """The text cut to `limit` characters at a word boundary, and whether it was cut."""
    if len(text) <= limit:
        return text, False
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip() + " […]", True


async def _close_when_cancelled(client: Any) -> None:
    try:
        await asyncio.get_running_loop().create_future()  # never set: waits for the loop's end
    finally:
        await client.close()


class EndpointBackend(DebateBackend):
    """One request per role and claim; the server batches them."""

    name = BACKEND_NAME

    def __init__(self, settings: EndpointSettings, prompts: RolePrompts = roles.LLM) -> None:
        self.settings = settings
        self.prompts = prompts
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        # Held here because the loop keeps only a weak reference to its tasks: a dropped closer could be
        # collected before its loop ends, and the client would not be closed after all.
        self._closer: asyncio.Task[None] | None = None
        self.in_flight = 0
        self.peak_in_flight = 0

    # --- the DebateBackend interface ---------------------------------------------------------------

    def check_ready(self) -> None:
        endpoint_client.probe(self.settings)

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        model = self.settings.debater_model
        prompt, truncated = self.argue_message(role, state)
        reply = await self._request(
            lambda client: client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=self.settings.debater_max_new_tokens,
                temperature=0.0,
            )
        )
        text = (reply.choices[0].message.content or "").strip() if reply.choices else ""
        return Argument(
            role=role,
            text=text,
            cited=evidence.cited_ids(text, state.neighbours),
            backend=f"{BACKEND_NAME}@{reply.model or model}",
            prompt=prompt if self.settings.record_prompts else None,
            claim_truncated=truncated,
        )

    async def judge(self, state: ClaimState) -> Verdict:
        if self.settings.judge_mode == "json":
            return await self._judge_json(state)
        return await self._judge_logprobs(state)

    # --- prompts ----------------------------------------------------------------------------------

    def _precedents(self, neighbours: list[Neighbour], limit: int) -> str:
        rows = [(n.label, n.named, n.similarity, cut(evidence.fold_whitespace(n.text), limit)[0]) for n in neighbours]
        return evidence.precedent_lines(rows)

    def _context(self, state: ClaimState) -> tuple[str, bool]:
        claim, truncated = cut(state.text, self.settings.claim_max_chars)
        precedents = self._precedents(state.neighbours, self.settings.neighbour_max_chars)
        return evidence.debate_context(precedents, claim), truncated

    def _argument(self, argument: Argument | None) -> str | None:
        # About 4 characters per token: the Judge reads at most what a debater could have said.
        return cut(argument.text, self.settings.debater_max_new_tokens * 4)[0] if argument else None

    def argue_message(self, role: Role, state: ClaimState) -> tuple[str, bool]:
        """The shared context (precedents, the fenced claim) first, then the role's task."""
        context, truncated = self._context(state)
        template = self.prompts.advocate if role == "advocate" else self.prompts.skeptic
        task = template.format(words=max(10, int(self.settings.debater_max_new_tokens * 0.6)))
        return context + "\n" + task, truncated

    def judge_prompt(self, state: ClaimState) -> tuple[str, bool]:
        claim, truncated = cut(state.text, self.settings.claim_max_chars)
        limit = self.settings.judge_neighbour_max_chars or self.settings.neighbour_max_chars
        prompt = judge_prompts.judge_prompt(
            precedents=self._precedents(state.neighbours, limit),
            advocate=self._argument(state.advocate),
            skeptic=self._argument(state.skeptic),
            claim=claim,
            task=self.prompts.judge or judge_prompts.JUDGE_TASK,
        )
        return prompt, truncated

    def judge_json_messages(self, state: ClaimState) -> tuple[list[ChatMessage], bool]:
        context, truncated = self._context(state)
        task = judge_prompts.judge_json_task(
            advocate=self._argument(state.advocate), skeptic=self._argument(state.skeptic)
        )
        return [{"role": "user", "content": context + "\n" + task}], truncated

    # --- requests ---------------------------------------------------------------------------------

    def _client_here(self) -> Any:
        """A client and a request limit for the running event loop (each `asyncio.run` has its own).

        The client's connections belong to its loop and cannot be closed from another one, so a task on
        that loop closes the client when the loop ends (`asyncio.run` cancels what is left). Otherwise up
        to `max_in_flight` sockets to the server stayed open after each run, until the garbage collector
        happened to find them.
        """
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = endpoint_client.async_client(self.settings)
            self._client_loop = loop
            self._slots = asyncio.Semaphore(self.settings.max_in_flight)
            self._closer = loop.create_task(_close_when_cancelled(self._client), name="claimcourt-endpoint-close")
        return self._client

    async def _request(self, send: Any) -> Any:
        client = self._client_here()
        assert self._slots is not None
        async with self._slots:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                return await send(client)
            finally:
                self.in_flight -= 1

    async def _judge_logprobs(self, state: ClaimState) -> Verdict:
        model = self.settings.judge_model
        prompt, truncated = self.judge_prompt(state)
        reply = await self._request(
            lambda client: client.completions.create(
                model=model, prompt=prompt, max_tokens=1, temperature=0.0, logprobs=self.settings.top_logprobs
            )
        )
        return logprob_verdict(
            reply.choices[0] if reply.choices else None,
            method=f"logprobs@{reply.model or model}",
            prompt=prompt if self.settings.record_prompts else None,
            claim_truncated=truncated,
        )

    async def _chat(self, messages: list[ChatMessage]) -> str:
        reply = await self._request(
            lambda client: client.chat.completions.create(
                model=self.settings.judge_model,
                messages=messages,
                max_tokens=self.settings.judge_json_max_new_tokens,
                temperature=0.0,
            )
        )
        return (reply.choices[0].message.content or "") if reply.choices else ""

    async def _judge_json(self, state: ClaimState) -> Verdict:
        messages, truncated = self.judge_json_messages(state)
        return await judge_by_json(
            self._chat,
            messages,
            retries=self.settings.judge_json_retries,
            method=f"json@{self.settings.judge_model}",
            prompt=messages[0]["content"] if self.settings.record_prompts else None,
            claim_truncated=truncated,
        )


@register_backend(BACKEND_NAME, prompts_like="endpoint")
def build_endpoint_backend(
    settings: Settings, search: NeighbourSearch, prompts: RolePrompts, *, hf_models: Any = None
) -> EndpointBackend:
    return EndpointBackend(settings.endpoint, prompts)
