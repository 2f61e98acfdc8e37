"""The reviews table moved to `claimcourt.store.reviews`; these names stay importable from here."""

from claimcourt.store.reviews import Review, ReviewStore, Source

__all__ = ["Review", "ReviewStore", "Source"]
