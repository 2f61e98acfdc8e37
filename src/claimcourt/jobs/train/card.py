"""The card written beside a trained adapter or encoder: what it was trained on (data, counts), how
(the recipe), and how it did (the evaluation), as JSON for tools and as the folder's README.md for
people (the Hugging Face Hub shows a model folder's README.md as its card)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD_JSON = "claimcourt-card.json"
CARD_MD = "README.md"


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def markdown(card: dict[str, Any]) -> str:
    lines = [f"# {card['title']}", "", card["summary"], "", "## Data", ""]
    data = card["data"]
    lines.append(f"- table: `{data['table']}` (sha256 of its rows {data['fingerprint'][:16]}…)")
    for part, counts in data["counts"].items():
        shown = ", ".join(f"{k} {v}" for k, v in counts.items())
        lines.append(f"- {part}: {shown}")
    lines += ["", "## Recipe", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {', '.join(v) if isinstance(v, list) else v} |" for k, v in card["recipe"].items()]
    evaluation = card.get("evaluation") or {}
    if evaluation:
        sides = list(evaluation)
        lines += ["", f"## Evaluation (held-out share, {evaluation[sides[0]]['n']} claims)", ""]
        lines += ["| metric | " + " | ".join(sides) + " |", "|---|" + "---|" * len(sides)]
        for key in card["evaluation_order"]:
            lines.append(f"| {key} | " + " | ".join(_number(evaluation[s].get(key)) for s in sides) + " |")
    lines += ["", "## Training", ""]
    lines += [f"- {k}: {_number(v)}" for k, v in card["training"].items()]
    if card.get("usage"):
        lines += ["", "## Use", "", card["usage"]]
    return "\n".join(lines) + "\n"


def write_card(folder: Path, card: dict[str, Any]) -> None:
    (folder / CARD_JSON).write_text(json.dumps(_json_safe(card), indent=2) + "\n", encoding="utf-8")
    (folder / CARD_MD).write_text(markdown(card), encoding="utf-8")


def read_card(folder: Path) -> dict[str, Any] | None:
    path = folder / CARD_JSON
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded
