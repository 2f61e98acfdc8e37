"""One module per node. Each is `verb_noun(state, runtime) -> dict` returning only what changed."""
