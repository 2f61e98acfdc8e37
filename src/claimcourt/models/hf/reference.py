"""The one-claim-at-a-time way, through langchain-huggingface, for comparison and single-claim traces.

This is how earlier pipelines for this task ran: per claim, one `generate` for the Advocate, one for
the Skeptic, then the Judge. The debaters go through `ChatHuggingFace` over a local
`HuggingFacePipeline` (with `return_full_text=False`, so the reply does not echo the prompt, and the
tokenizer passed explicitly, so nothing is looked up on the Hub). The Judge reads its logits exactly as
the batched path does, on a batch of one. It uses the same loaded models, prompts and adapters as
`HFBackend`, so the only difference from the batched run is the batching.
"""

from __future__ import annotations

from typing import Any

from claimcourt.models.hf import engine as hf_engine
from claimcourt.models.hf.backend import BACKEND_NAME, HFBackend
from claimcourt.models.hf.decode.plan import DecodePlan
from claimcourt.models.hf.prompts import judge_header_ids, label_token_ids
from claimcourt.prompts.evidence import cited_ids
from claimcourt.state import Argument, ClaimState, Role, Verdict

# transformers' generate over a dynamic cache, as the earlier pipelines ran (the batched path's own plan
# is resolved per pass by `passes`).
ONE_AT_A_TIME = DecodePlan(graphed=False, cache_implementation="dynamic")


class OneAtATime:
    """`debate(state)` -> the state with both arguments and the verdict, one model call at a time."""

    def __init__(self, backend: HFBackend) -> None:
        self.backend = backend
        self._chat: Any = None

    def _chat_model(self) -> Any:
        if self._chat is None:
            from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
            from transformers import pipeline

            loaded = self.backend._debater_model()
            generator = pipeline(
                "text-generation",
                model=loaded.model,
                tokenizer=loaded.tokenizer,
                return_full_text=False,
                max_new_tokens=self.backend.settings.debater_max_new_tokens,
                do_sample=False,
                pad_token_id=loaded.tokenizer.pad_token_id,
            )
            llm = HuggingFacePipeline(pipeline=generator, model_id=loaded.model_id, batch_size=1)
            self._chat = ChatHuggingFace(llm=llm, tokenizer=loaded.tokenizer, model_id=loaded.model_id)
        return self._chat

    def argue(self, role: Role, state: ClaimState) -> Argument:
        from langchain_core.messages import HumanMessage

        backend = self.backend
        loaded = backend._debater_model()
        message, truncated = backend.prompts.argue_message(loaded.tokenizer, role, state)
        chat = self._chat_model()
        with loaded.role(backend._debater_adapter):
            reply = chat.invoke([HumanMessage(content=message)])
        text = str(reply.content).strip()
        return Argument(
            role=role,
            text=text,
            cited=cited_ids(text, state.neighbours),
            backend=f"{BACKEND_NAME}-sequential",
            claim_truncated=truncated,
        )

    def judge(self, state: ClaimState) -> Verdict:
        backend = self.backend
        loaded = backend._judge_model()
        tokenizer = loaded.tokenizer
        (prompt,) = backend.prompts.render_judge(loaded, [state])
        with loaded.role(backend._judge_adapter) as model:
            (out,) = hf_engine.judge_rows(
                model,
                loaded,
                [prompt.ids],
                label_ids=label_token_ids(tokenizer),
                header_ids=judge_header_ids(tokenizer),
                rationale_tokens=backend.settings.judge_rationale_tokens,
                plan=ONE_AT_A_TIME,
            )
        return backend._verdict(prompt, out, tokenizer)

    def debate(self, state: ClaimState) -> ClaimState:
        advocate = self.argue("advocate", state)
        skeptic = self.argue("skeptic", state)
        with_arguments = state.model_copy(update={"advocate": advocate, "skeptic": skeptic})
        return with_arguments.model_copy(update={"verdict": self.judge(with_arguments)})
