"""Triton kernels of the hf decode path; importing any of them needs triton."""
