"""Settings and profiles.

Precedence, lowest first: built-in defaults < TOML file (`<workspace>/claimcourt.toml` or `--config`)
< `CLAIMCOURT_*` environment variables < command-line flags. Nested keys use a double underscore in
the environment: `CLAIMCOURT_HF__JUDGE_MODEL=/models/mistral` sets `hf.judge_model`.

Nothing here touches the disk at import time; `load_settings` is the only function that reads.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from claimcourt.errors import ConfigError
from claimcourt.urls import check_endpoint_url, parse_chroma_url
from claimcourt.vocab import BUILT_IN_PROFILES
from claimcourt.vocab import Profile as Profile  # defined where --help reads it without loading settings

ENV_PREFIX = "CLAIMCOURT_"
CONFIG_FILENAME = "claimcourt.toml"
DEFAULT_WORKSPACE = Path(".claimcourt")
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RetrievalSettings(_Section):
    """How neighbours are found. The embedding model is per profile (see `Settings.embedding_model`)."""

    # None: the profile's own default (`PROFILE_TOP_K`): the offline Judge weighs many precedents
    # cheaply, while an LLM reads each one in its prompt.
    top_k: int | None = Field(None, ge=1, le=100, description="labelled neighbours shown to every role")
    batch_size: int = Field(64, ge=1, description="texts embedded per forward pass")
    collection: str = "labelled_claims"
    # A `chroma run` server (http://host:8000) instead of the folder in the workspace: one store shared
    # by workers on several machines.
    chroma_url: str | None = None
    # How long one request to that server may take before the command stops with a one-line error
    # (Chroma's own client waits for ever on a server that stopped answering mid-run; a run resumes).
    chroma_timeout_s: float = Field(120.0, gt=0)

    @field_validator("chroma_url")
    @classmethod
    def _chroma_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return parse_chroma_url(value).url  # raises ValueError: pydantic reports it under the setting


class OfflineSettings(_Section):
    """The embedded default: evidence briefs and a kNN + logistic-regression judge, CPU only."""

    embedding_model: str = MINILM
    # Weight of the kNN vote against the logistic regression in p_green (0 = LR only, 1 = kNN only),
    # used only by an index fitted before the Judge weighed the briefs (or too small to fit that).
    knn_weight: float = Field(0.5, ge=0.0, le=1.0)
    # The LR's inverse regularisation strength, fitted at index time.
    lr_c: float = Field(4.0, gt=0.0)
    # Inverse regularisation of the weighing of the briefs (`models.evidence`), fitted at index time.
    weighing_c: float = Field(1.0, gt=0.0)
    excerpt_chars: int = Field(160, ge=20)
    # How much one person's decision weighs against one silver label when the Judge is fitted (the seeds
    # fine-tuned with gold weighted 5x; benchmarks/learning_curve.py measures 1 against 5).
    human_weight: float = Field(5.0, gt=0.0)
    # Refit the Judge (`claimcourt learn`, without --rejudge) after every this many decisions of a run,
    # from the review desk; 0: only when `learn` is run.
    learn_every: int = Field(0, ge=0)


class HFSettings(_Section):
    """Local transformers models (4-bit by default); every id may be a local path."""

    embedding_model: str = "AI-Growth-Lab/PatentSBERTa"
    debater_model: str = "microsoft/Phi-3-mini-4k-instruct"
    debater_adapter: str | None = None
    judge_model: str = "mistralai/Mistral-7B-v0.1"
    judge_adapter: str | None = "Anders-sonderby/mistral-7b-patent-qlora"
    quantization: Literal["nf4", "fp4", "int8", "none"] = "nf4"
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    device_map: str = "auto"
    gpu_memory: str | None = Field(None, description="memory budget for batch sizing, e.g. '22GiB'")
    trust_remote_code: bool = False
    claim_max_tokens: int = Field(512, ge=16)
    debater_max_new_tokens: int = Field(128, ge=1)
    judge_rationale_tokens: int = Field(64, ge=0)
    max_batch_size: int = Field(64, ge=1)
    # How the Judge answers: 'logits' reads P(YES)/P(NO) at the adapter's answer position; 'json' asks
    # for a JSON verdict (for models whose logits say nothing useful), validated, repaired once.
    judge_mode: Literal["logits", "json"] = "logits"
    judge_json_max_new_tokens: int = Field(192, ge=16)
    judge_json_retries: int = Field(1, ge=0)
    neighbour_max_tokens: int = Field(64, ge=8, description="each neighbour's text in a prompt, in tokens")
    # The Judge weighs the precedents against each other, so it may read more of each than the
    # debaters, who only need to point at them (None: the same as neighbour_max_tokens).
    judge_neighbour_max_tokens: int | None = Field(None, ge=8)
    attn_implementation: str = "sdpa"
    # 'static' preallocates each pass's KV cache; 'dynamic' re-copies the whole cache at every decode
    # step (on an H200, 128 rows of Phi-3-mini: 147 ms per step against 35 ms static).
    cache_implementation: Literal["dynamic", "static"] = "static"
    # 'graphed': claimcourt's greedy loop over the static cache, each pass's decode step captured once as
    # a CUDA graph (eager on a CPU); the same tokens as 'generate' (transformers' generate), without its
    # ~45 ms of launches per step. Only with cache_implementation = 'static'.
    decode: Literal["generate", "graphed"] = "graphed"
    # With decode = 'graphed': a claim's Advocate and Skeptic rows share one copy of their common
    # prompt prefix in the KV cache and the prefill (the same tokens; ~1.6x the claims per pass under
    # a memory budget). Off: each row holds its whole prompt.
    shared_prefix: bool = True
    # With decode = 'graphed': the prefill runs in slices of rows of at most this many prompt tokens,
    # joined into one cache after, so a pass's prefill activations cost one slice's worth and a pass
    # under a memory budget holds more rows (0: one prefill for the whole pass). Where a pass's rows
    # leave memory free, its slices grow into half of it, up to 4x this: larger slices are faster
    # (README: 65536 on an H100, 10.1-10.3 claims/s against 9.6-9.8), and growing only into what the
    # rows leave never costs a pass rows.
    prefill_tokens: int = Field(16384, ge=0)
    # With decode = 'graphed': the decode step's attention. 'kernel': claimcourt's flash-decoding Triton
    # kernel (models/hf/kernels/triton_decode_attention.py; needs triton, which CUDA builds of torch
    # ship), which reads each row's cache once and only the slots a row can read. 'sdpa': torch's SDPA
    # with the step's mask.
    # Where triton is missing or the tensors are on a CPU, 'kernel' attends through SDPA. On an H200
    # (README), unbounded: 11.0-11.6 claims/s with fused_prefill, against 9.2 for SDPA with eager ops
    # in the same call; under 22 GiB: 6.57 with eager ops, against 6.38 for SDPA with fused ones.
    decode_attention: Literal["sdpa", "kernel"] = "kernel"
    # With decode = 'graphed': the prefill's RMSNorm, rotary embedding and SiLU x up as one Triton
    # kernel each (models/hf/kernels/triton_fused_prefill.py; needs triton) instead of eager's several
    # passes per op, for Phi-3, Mistral, Llama and Qwen2; eager's values up to RMSNorm's sum order and
    # exp's last bit.
    # Eager ops on a CPU or without triton. ~11% off a debater pass on an H100.
    fused_prefill: bool = True
    # Keep the rendered prompts in the debate record (traces show exactly what each model read).
    record_prompts: bool = True


class EndpointSettings(_Section):
    """A server speaking the OpenAI-compatible API (vLLM, SGLang, llama.cpp's llama-server, transformers
    serve), filled in from its launch command. Model names are the names the server serves (a LoRA
    adapter served under its own name is a model name here)."""

    embedding_model: str = MINILM
    url: str | None = Field(None, description="the API's base, e.g. http://gpu-node:8000/v1")
    # The name of the variable that holds the key: the key itself never sits in a file or a record.
    api_key_env: str = "CLAIMCOURT_ENDPOINT_API_KEY"
    debater_model: str | None = None
    judge_model: str | None = None
    # 'logprobs': p_green from the server's log-probabilities of YES/NO at the adapter's answer position;
    # 'json': for servers that return none, a JSON verdict, validated, repaired once, else a person.
    judge_mode: Literal["logprobs", "json"] = "logprobs"
    max_in_flight: int = Field(64, ge=1, description="requests sent to the server at once")
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(3, ge=0, description="per request, with jittered backoff")
    # The client has no tokenizer, so texts are cut to budgets in characters (about 4 per token).
    claim_max_chars: int = Field(2048, ge=64)
    neighbour_max_chars: int = Field(256, ge=32)
    judge_neighbour_max_chars: int | None = Field(None, ge=32)
    debater_max_new_tokens: int = Field(128, ge=1)
    judge_json_max_new_tokens: int = Field(192, ge=16)
    judge_json_retries: int = Field(1, ge=0)
    # Alternatives asked for at the answer position (vLLM's default --max-logprobs is 20).
    top_logprobs: int = Field(20, ge=2)
    record_prompts: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else check_endpoint_url(value)


class TrainSettings(_Section):
    """`claimcourt train`: the Judge adapter's recipe (defaults: the seed's QLoRA on Mistral-7B) and the
    encoder's. 'auto' picks what the machine can do: 4-bit NF4, bf16 and a paged 8-bit optimiser where
    CUDA and bitsandbytes are present, full-precision LoRA and AdamW on a CPU."""

    base_model: str | None = Field(None, description="the Judge's base model (None: hf.judge_model)")
    quantization: Literal["auto", "nf4", "fp4", "none"] = "auto"
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    optim: str = Field("auto", description="a transformers optimiser name, e.g. paged_adamw_8bit, adamw_torch")
    gradient_checkpointing: bool = True
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])
    epochs: float = Field(1.0, gt=0)
    # None: as many as the epochs take; a number caps the run (a quick trial).
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(4, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: str = "cosine"
    warmup_steps: int = Field(50, ge=0)
    # The Judge reads a claim cut to this many tokens at inference (None: hf.claim_max_tokens); training
    # cuts it the same way, so the prompts are the same text.
    claim_max_tokens: int | None = Field(None, ge=16)
    gold_weight: float = Field(5.0, gt=0, description="loss weight of a human label against a silver one")
    held_out: float = Field(0.1, ge=0.0, lt=1.0, description="share of the table kept for the evaluation")
    seed: int = 0
    save_steps: int = Field(200, ge=1, description="a resumable checkpoint every this many steps")
    logging_steps: int = Field(10, ge=1)
    eval_batch_size: int = Field(16, ge=1)
    # `train encoder`: the sentence encoder (None: the active profile's embedding model).
    encoder_model: str | None = None
    encoder_epochs: float = Field(1.0, gt=0)
    encoder_batch_size: int = Field(16, ge=2)
    encoder_learning_rate: float = Field(2e-5, gt=0)
    encoder_warmup_steps: int = Field(10, ge=0)
    # Tokens of a claim the encoder reads while training (None: the model's own max_seq_length).
    encoder_max_tokens: int | None = Field(None, ge=8)


LATEST_CALIBRATION = "latest"


def calibration_reference(value: str) -> str | None:
    """'calibrated' -> 'latest', 'calibrated:NAME' -> 'NAME'; None for anything else (a number)."""
    head, _, name = value.strip().partition(":")
    if head.strip().lower() != "calibrated":
        return None
    return name.strip() or LATEST_CALIBRATION


PROFILE_TOP_K: dict[str, int] = {"offline": 20, "hf": 5, "endpoint": 5}
# A backend registered beside the built-ins (models.registry) retrieves as the offline profile does: its
# embedding model, its number of neighbours.
_RETRIEVES_LIKE = "offline"


class Settings(_Section):
    profile: Profile = "offline"
    workspace: Path = DEFAULT_WORKSPACE
    threshold: float = Field(0.70, ge=0.0, le=1.0, description="Judge confidence below this goes to a person")
    # `threshold = "calibrated"` / `"calibrated:NAME"` (file, environment or --threshold) names a saved
    # calibration instead of a number; it lands here and is resolved to `threshold` when a run starts
    # (`eval.calibrations.resolve_threshold`), which then records the calibration's own name.
    calibration: str | None = None
    # A share of the claims the Judge would decide alone also goes to a person (an audit), drawn from
    # a hash of the run's audit seed and the claim id; a run without a seed gets a random one, recorded.
    audit_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of auto-decided claims also sent to a person")
    audit_seed: int | None = Field(None, ge=0)
    # Audit claims are reviewed blind (the Judge's verdict hidden until the person decided).
    audit_blind: bool = True
    max_concurrency: int = Field(64, ge=1, description="claims debated at once")
    # Where run state lives: unset = the workspace's SQLite files; "postgresql://user@host/db" = one
    # Postgres database shared by many workers and reviewers (see claimcourt.store).
    storage_url: str | None = None
    # Replaced by storage_url; still read only to refuse them with a hint (claimcourt.store.storage_url).
    checkpointer: Literal["sqlite", "postgres"] = "sqlite"
    postgres_url: str | None = None
    # How long a claim on a reviewer's screen stays theirs without a renewal.
    review_lease_s: float = Field(300.0, gt=0)
    # How long a worker's claims stay its own without a heartbeat (then another worker takes them).
    worker_lease_s: float = Field(60.0, gt=0)
    sqlite_busy_timeout_ms: int = Field(30_000, ge=0)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    offline: OfflineSettings = Field(default_factory=OfflineSettings)
    hf: HFSettings = Field(default_factory=HFSettings)
    endpoint: EndpointSettings = Field(default_factory=EndpointSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)

    @model_validator(mode="before")
    @classmethod
    def _calibrated_threshold(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("threshold"), str):
            name = calibration_reference(values["threshold"])
            if name is not None:
                values = {k: v for k, v in values.items() if k != "threshold"}
                values["calibration"] = name
        return values

    @field_validator("workspace", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return Path(value).expanduser() if isinstance(value, str | Path) else value

    @property
    def embedding_model(self) -> str:
        """The embedding model of the active profile: it decides which store the workspace holds."""
        profile = self.profile if self.profile in BUILT_IN_PROFILES else _RETRIEVES_LIKE
        section: OfflineSettings | HFSettings | EndpointSettings = getattr(self, profile)
        return section.embedding_model

    @property
    def top_k(self) -> int:
        """Neighbours retrieved for every role: the configured number, else the profile's default."""
        return self.retrieval.top_k or PROFILE_TOP_K.get(self.profile, PROFILE_TOP_K[_RETRIEVES_LIKE])

    def config_file(self) -> Path:
        return self.workspace / CONFIG_FILENAME


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """`CLAIMCOURT_HF__JUDGE_MODEL=x` -> {"hf": {"judge_model": "x"}}; pydantic converts the strings."""
    known_sections = {"retrieval", "offline", "hf", "endpoint", "train"}
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if len(path) > 1 and path[0] not in known_sections:
            continue
        if len(path) == 1 and path[0] not in Settings.model_fields:
            continue  # other CLAIMCOURT_* variables (API keys, test switches) are not settings
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}: is a directory, not a TOML configuration file") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            nested = _drop_none(value)
            if nested:
                out[key] = nested
        elif value is not None:
            out[key] = value
    return out


def load_settings(
    *,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from file, environment and flags (`overrides`; `None` values are ignored).

    The workspace decides where the default config file lives, so it is resolved first from the
    flags and the environment.
    """
    environ = os.environ if environ is None else environ
    flags = _drop_none(overrides or {})
    env = _env_overrides(environ)
    source = "configuration"
    try:
        workspace = Path(flags.get("workspace") or env.get("workspace") or DEFAULT_WORKSPACE)
        file_values: dict[str, Any] = {}
        if config_file is not None:
            file_values = _read_toml(config_file)
            source = str(config_file)
        elif (workspace / CONFIG_FILENAME).is_file():
            file_values = _read_toml(workspace / CONFIG_FILENAME)
            source = str(workspace / CONFIG_FILENAME)
        merged = _deep_merge(_deep_merge(file_values, env), flags)
        merged.setdefault("workspace", workspace)
        settings = Settings.model_validate(merged)
        if settings.workspace.exists() and not settings.workspace.is_dir():
            raise ConfigError(f"{settings.workspace}: the workspace is a file, not a folder")
        return settings
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{source}: setting '{where}': {first['msg']}") from exc
