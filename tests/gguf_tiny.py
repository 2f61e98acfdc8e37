"""A tiny Judge for llama.cpp's server, made inside the test session: a tiny Llama like those of `hf_tiny`
that answers YES or NO (as the real adapter is trained to), saved as a transformers folder and converted
to GGUF with the `gguf` package, so the same weights can be read by transformers for the reference
numbers and served by llama.cpp.

The conversion follows llama.cpp's convert_hf_to_gguf.py for Llama models: the same tensor names, the
query and key rows permuted into llama.cpp's rotary layout, float32 tensors, and the byte-level BPE
tokenizer as a "gpt2" vocabulary with its merges. Only what the tiny Llama uses is converted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from claimcourt.models.endpoint.logprobs import answer_word
from tests.hf_tiny import build_tokenizer

# The answer logits' lift over every other token, through the hidden unit the layers never write to (YES
# a little more: the random network leans to NO), and how much more the rest of the network sways them
# than other tokens, so that P(YES) / (P(YES) + P(NO)) spreads over about 0.2-0.95 on the silver claims.
_LIFT = {" YES": 45.0, " NO": 40.0}
_ANSWER_SPREAD = 4.0
_CONSTANT_UNIT = 0
# Trained into the tokenizer with the tiny corpus, so that " YES" and " NO" are tokens of their own.
_ANSWER_LINES = ["### Answer: YES", "### Answer: NO"] * 40


def answer_token_ids(tokenizer: Any) -> dict[str, list[int]]:
    """The ids of the tokens the endpoint Judge reads as YES or NO (" YES", "YES", " yes"...)."""
    found: dict[str, list[int]] = {"yes": [], "no": []}
    for token_id in range(len(tokenizer)):
        word = answer_word(tokenizer.decode([token_id]))
        if word is not None:
            found[word].append(token_id)
    return found


def build_yes_no_judge(out: Path, *, hidden: int = 32, layers: int = 2) -> Path:
    """A tiny Llama (random weights, as in `hf_tiny`) whose tokenizer has YES and NO tokens, with one
    hidden unit held constant (the embeddings write a constant to it and no layer writes to it) that
    the output layer reads only for " YES" and " NO": at every position they are the most likely tokens,
    and the rest of the network (random weights, weighing more for these two) sets their ratio, which
    differs from prompt to prompt."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(out, extra=_ANSWER_LINES)
    answers = answer_token_ids(tokenizer)
    if not answers["yes"] or not answers["no"]:
        raise RuntimeError(f"the tiny tokenizer has no YES or NO token: {answers}")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(4321)
    model = LlamaForCausalLM(config)
    unit = _CONSTANT_UNIT
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.normal_(0.0, 0.2)
        model.model.embed_tokens.weight[:, unit] = 1.0
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight[unit, :] = 0.0
            layer.mlp.down_proj.weight[unit, :] = 0.0
        model.lm_head.weight[:, unit] = 0.0
        for text, lift in _LIFT.items():
            answer = _one_token(tokenizer, text)
            model.lm_head.weight[answer] *= _ANSWER_SPREAD
            model.lm_head.weight[answer, unit] = lift
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _one_token(tokenizer: Any, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise RuntimeError(f"{text!r} is not one token of the tiny tokenizer: {ids}")
    return int(ids[0])


def _permute(weights: Any, heads: int) -> Any:
    """Rows of a query or key projection from transformers' rotary layout into llama.cpp's."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def write_gguf(model_dir: Path, out: Path, *, name: str) -> Path:
    """The Llama model in `model_dir` (a transformers folder) as a float32 GGUF file at `out`."""
    import gguf
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = model.config
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    _add_tokenizer(writer, tokenizer, model_dir)

    weights = {key: value.numpy() for key, value in model.state_dict().items()}
    writer.add_tensor("token_embd.weight", weights["model.embed_tokens.weight"])
    for index in range(config.num_hidden_layers):
        hf, block = f"model.layers.{index}.", f"blk.{index}."
        query = _permute(weights[hf + "self_attn.q_proj.weight"], config.num_attention_heads)
        key = _permute(weights[hf + "self_attn.k_proj.weight"], config.num_key_value_heads)
        for gguf_name, tensor in (
            ("attn_norm", weights[hf + "input_layernorm.weight"]),
            ("attn_q", query),
            ("attn_k", key),
            ("attn_v", weights[hf + "self_attn.v_proj.weight"]),
            ("attn_output", weights[hf + "self_attn.o_proj.weight"]),
            ("ffn_norm", weights[hf + "post_attention_layernorm.weight"]),
            ("ffn_gate", weights[hf + "mlp.gate_proj.weight"]),
            ("ffn_up", weights[hf + "mlp.up_proj.weight"]),
            ("ffn_down", weights[hf + "mlp.down_proj.weight"]),
        ):
            writer.add_tensor(f"{block}{gguf_name}.weight", tensor)
    writer.add_tensor("output_norm.weight", weights["model.norm.weight"])
    writer.add_tensor("output.weight", weights["lm_head.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _add_tokenizer(writer: Any, tokenizer: Any, model_dir: Path) -> None:
    import gguf

    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise RuntimeError("the tokenizer's ids are not 0..n-1")
    special = set(tokenizer.all_special_ids) | {
        int(t["id"]) for t in json.loads((model_dir / "tokenizer.json").read_text())["added_tokens"]
    }
    merges = json.loads((model_dir / "tokenizer.json").read_text())["model"]["merges"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")  # the GPT-2 split that transformers' ByteLevel pre-tokenizer uses
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if index in special else gguf.TokenType.NORMAL for index in range(len(tokens))]
    )
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_add_bos_token(True)  # as the tokenizer's post-processor does
    writer.add_add_eos_token(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)
