"""llama.cpp's server (the C++ `llama-server` of the `xllamacpp` wheel, run in this process) serving one
GGUF model on 127.0.0.1 until SIGTERM or SIGINT: the real OpenAI-compatible server that returns
log-probabilities, for the endpoint tests.

    python tests/llama_server.py --model tiny.gguf --port P --alias tiny-judge [--parallel 8]
"""

from __future__ import annotations

import argparse
import signal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--alias", required=True, help="the name the server serves the model under")
    parser.add_argument("--parallel", type=int, default=8, help="sequences decoded together (slots)")
    parser.add_argument("--ctx", type=int, default=8192, help="context tokens, shared by the slots")
    args = parser.parse_args()

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_parallel = args.parallel
    params.n_ctx = args.ctx
    # A float32 cache and no flash attention (llama.cpp's defaults compute parts of attention in float16),
    # so that its log-probabilities match transformers' on the same weights to the sixth decimal.
    params.cache_type_k = xllamacpp.ggml_type.GGML_TYPE_F32
    params.cache_type_v = xllamacpp.ggml_type.GGML_TYPE_F32
    params.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
    # Block the signals before the server's threads start, so that they stay with this thread.
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    server = xllamacpp.Server(params)  # loads the model, then listens
    signal.sigwait(stop)
    del server


if __name__ == "__main__":
    main()
