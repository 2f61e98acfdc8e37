"""The hf backend's own decode path: greedy decoding over a static cache, its step captured as a CUDA
graph (`loop`), the prefill in slices (`prefill`), the attention functions it registers (`attention`) and
one claim's roles over one copy of their shared prefix (`shared_prefix`)."""
