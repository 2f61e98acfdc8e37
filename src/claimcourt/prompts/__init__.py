"""One module per role: the templates, UPPER_CASE constants with named placeholders.

The offline profile fills the *_BRIEF templates with evidence; LLM profiles render the *_PROMPT
templates through each model's chat template.
"""
