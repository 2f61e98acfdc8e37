"""claimcourt: label patent claims as green technology (CPC Y02) by debate."""

__version__ = "0.1.0"
