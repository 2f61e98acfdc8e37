"""How one pass decodes, as one value: resolved once per pass from the settings and the loaded model
(`DecodePlan.from_settings(settings).for_pass(loaded, total_len)`) and handed down the decode path.

The defaults are `HFSettings`' own, so a plan made with no arguments decodes as a run with default
settings does. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from claimcourt.config import HFSettings

_DEFAULT = HFSettings()


def static_cache_fits(config: Any, total_len: int) -> bool:
    """A sliding-window model decodes in the graphed loop only while the whole pass fits in its window
    (then the window masks nothing and the static cache never rolls)."""
    window = getattr(config, "sliding_window", None)
    return window is None or total_len <= int(window)


@dataclass(frozen=True)
class DecodePlan:
    # decode.loop's greedy loop over a static cache (hf.decode = 'graphed'); False: transformers' generate.
    graphed: bool = _DEFAULT.decode == "graphed" and _DEFAULT.cache_implementation == "static"
    # The KV cache transformers' generate uses (hf.cache_implementation).
    cache_implementation: str = _DEFAULT.cache_implementation
    # The graphed step's attention: 'kernel' (the Triton decode kernel) or 'sdpa' (hf.decode_attention).
    attention: str = _DEFAULT.decode_attention
    # The graphed loop's prefill through the fused Triton ops (hf.fused_prefill).
    fused_prefill: bool = _DEFAULT.fused_prefill
    # A claim's Advocate and Skeptic over one copy of their shared prefix (hf.shared_prefix).
    shared_prefix: bool = _DEFAULT.shared_prefix
    # The graphed loop's prefill in slices of at most this many prompt tokens (None: one prefill).
    prefill_tokens: int | None = _DEFAULT.prefill_tokens or None
    # The graphed loop's step captured as a CUDA graph where it can be; False: every step eagerly
    # (benchmarks compare the two).
    capture: bool = True

    @classmethod
    def from_settings(cls, settings: HFSettings) -> DecodePlan:
        """What the settings ask for, before a pass's model and length are known."""
        return cls(
            graphed=settings.decode == "graphed" and settings.cache_implementation == "static",
            cache_implementation=settings.cache_implementation,
            attention=settings.decode_attention,
            fused_prefill=settings.fused_prefill,
            shared_prefix=settings.shared_prefix,
            prefill_tokens=settings.prefill_tokens or None,
        )

    def for_pass(self, loaded: Any, total_len: int) -> DecodePlan:
        """This plan for one pass on `loaded` whose rows hold `total_len` tokens (prompt and new ones):
        the graphed loop only where it can run. Its masks are boolean 4D masks, which SDPA reads as
        they are (eager attention would add them as numbers), and a sliding window must hold the pass."""
        if not self.graphed:
            return self
        config = loaded.config
        if config._attn_implementation == "sdpa" and static_cache_fits(config, total_len):
            return self
        return replace(self, graphed=False)

    @property
    def shares_prefix(self) -> bool:
        """Whether a claim's roles may share their prefix: asked for, and the graphed loop runs."""
        return self.graphed and self.shared_prefix


# The plan of a pass run with default settings: the decode loop's own default where a caller (a test, a
# benchmark) calls it directly.
DEFAULT_PLAN = DecodePlan()
