"""Model backends behind one small interface (`base.DebateBackend`), registered by name (`registry`):
`offline/`, `hf/`, `endpoint/`, and whatever else registers (a test's recording fake)."""
