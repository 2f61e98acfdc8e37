"""A small separable training table for `claimcourt train` tests, and a recipe that moves a tiny model
in a few CPU steps (the seed's learning rate would take hundreds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import write_csv

GREEN = [
    "A method for producing hydrogen by electrolysis of water using electricity from solar panels.",
    "A wind turbine blade comprising a carbon fibre spar and a control system for the pitch.",
    "An apparatus for capturing carbon dioxide from flue gas of a power plant with an amine solvent.",
    "A battery management system for an electric vehicle that balances the cells while charging.",
]
NOT_GREEN = [
    "A shoe comprising a sole, an upper and a lace, wherein the sole is made of rubber.",
    "A semiconductor device comprising a substrate, a gate electrode and a dielectric layer.",
    "A chair comprising four legs and a seat made of wood.",
    "A printer comprising a paper tray and a toner cartridge.",
]
# A tiny model learns the two groups apart in ~20 steps at this rate; the seed's 2e-4 is for 7B.
FAST = {
    "learning_rate": 3e-2,
    "warmup_steps": 0,
    "batch_size": 4,
    "grad_accum": 1,
    "epochs": 4,
    "held_out": 0.25,
    "logging_steps": 1,
    "lora_r": 4,
    "lora_alpha": 8,
    "claim_max_tokens": 48,
}


def training_rows(n: int = 24) -> list[dict[str, Any]]:
    """Alternating green / not green claims; every fifth label is a person's."""
    return [
        {
            "id": f"c{i}",
            "text": (GREEN if i % 2 else NOT_GREEN)[(i // 2) % 4] + f" Variant {i}.",
            "label": i % 2,
            "label_source": "human" if i % 5 == 0 else "silver",
        }
        for i in range(n)
    ]


def training_csv(path: Path, n: int = 24) -> Path:
    return write_csv(path, training_rows(n))


def cli_flags(**overrides: Any) -> list[str]:
    values = {**FAST, **overrides}
    flags: list[str] = []
    for key, value in values.items():
        flags += [f"--{key.replace('_', '-')}", str(value)]
    return flags
