"""`claimcourt train`: the seeds' training steps as commands: the Judge's LoRA adapter (`judge`) and
the sentence encoder (`encoder`), trained on a table of labelled claims (typically `export
--merge-silver`'s output, human labels weighted). Nothing here imports torch at import time."""
