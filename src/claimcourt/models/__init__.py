"""Model backends behind one small interface (`DebateBackend`), built by `build_backend`."""
