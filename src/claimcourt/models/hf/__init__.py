"""The hf backend: local transformers models batched across claims (`backend`), their loading, prompts,
memory-sized passes, one pass's forward (`engine`), the graphed decode (`decode/`) and its Triton kernels
(`kernels/`). Nothing here imports torch or transformers at import time but `kernels/`."""
