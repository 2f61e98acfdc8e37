"""People taking over from the Judge: review sessions, bulk decisions, gold-label export, agreement."""
