"""The offline backend: evidence weighed without a language model, the Judge fitted at index time
(`refit`), its stored payload and versions."""
