"""The endpoint backend: an OpenAI-compatible server (vLLM, SGLang, llama.cpp) over HTTP."""
