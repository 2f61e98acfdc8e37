"""The offline Judge's weighing of the briefs: fitted on the index's own debates, a better brief moves
the verdict, and the rationale names what moved it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from claimcourt.models.offline.backend import LinearClassifier, load_judge_file
from claimcourt.models.offline.briefs import offline_brief
from claimcourt.models.offline.evidence import FEATURES, EvidenceWeighing, brief_features, describe_contributions
from claimcourt.models.offline.fit import fit_weighing
from claimcourt.state import Neighbour

GREEN_TEXT = "A photovoltaic module with a solar cell and a frame number {i}"
OTHER_TEXT = "A golf club head with a face insert of alloy number {i}"


def _index(n: int = 80, seed: int = 0) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.array([i % 2 for i in range(n)])
    # The cue says green for most green claims and for some others: evidence, not the answer.
    cue = np.where(labels == 1, rng.uniform(size=n) < 0.7, rng.uniform(size=n) < 0.3)
    centre = np.where(labels[:, None] == 1, 0.4, -0.4) * np.eye(8)[0]
    vectors = (centre + rng.normal(0, 0.5, size=(n, 8))).astype(np.float32)
    texts = [(GREEN_TEXT if c else OTHER_TEXT).format(i=i) for i, c in enumerate(cue)]
    return [f"c{i}" for i in range(n)], texts, vectors, labels


@pytest.fixture(scope="module")
def weighing() -> EvidenceWeighing:
    ids, texts, vectors, labels = _index()
    fitted = fit_weighing(
        ids, texts, vectors, labels, c=1.0, weighing_c=1.0, top_k=6, excerpt_chars=60, embedding_model="m"
    )
    assert fitted is not None
    return fitted


def _p(weighing: EvidenceWeighing, text: str, neighbours: list[Neighbour], p_logreg: float = 0.5) -> float:
    advocate = offline_brief("advocate", text, neighbours, 60)
    skeptic = offline_brief("skeptic", text, neighbours, 60)
    return weighing.p_green(brief_features(p_logreg, neighbours, advocate, skeptic))


def _neighbours(green_sim: float, other_sim: float) -> list[Neighbour]:
    return [
        Neighbour(id="g", text="green precedent", label=1, similarity=green_sim),
        Neighbour(id="o", text="other precedent", label=0, similarity=other_sim),
    ]


def test_a_closer_green_precedent_in_the_advocates_brief_moves_the_verdict_to_green(
    weighing: EvidenceWeighing,
) -> None:
    text = "A device with a housing"
    assert _p(weighing, text, _neighbours(0.9, 0.5)) > _p(weighing, text, _neighbours(0.5, 0.9)) + 0.05


def test_a_strong_cue_moves_the_verdict_to_green(weighing: EvidenceWeighing) -> None:
    neighbours = _neighbours(0.7, 0.7)
    assert _p(weighing, "A photovoltaic module with a housing", neighbours) > _p(
        weighing, "A golf club with a housing", neighbours
    )


def test_the_rationale_names_the_features_that_moved_the_verdict(weighing: EvidenceWeighing) -> None:
    neighbours = _neighbours(0.9, 0.4)
    advocate = offline_brief("advocate", "A photovoltaic module", neighbours, 60)
    skeptic = offline_brief("skeptic", "A photovoltaic module", neighbours, 60)
    said = describe_contributions(weighing, brief_features(0.5, neighbours, advocate, skeptic))
    assert len(said.split(", ")) == 3 and all(part.rsplit(" ", 1)[0] in FEATURES for part in said.split(", "))


def test_the_weighing_travels_with_the_classifier_and_an_older_file_falls_back(
    weighing: EvidenceWeighing, tmp_path: Path
) -> None:
    classifier = LinearClassifier(np.zeros(8), 0.0, "m", 80)
    classifier.save(tmp_path / "judge.json", weighing)
    _, loaded = load_judge_file(tmp_path / "judge.json")
    assert loaded is not None and np.allclose(loaded.coef, weighing.coef) and loaded.top_k == 6
    classifier.save(tmp_path / "old.json")  # an index fitted before the weighing existed
    assert load_judge_file(tmp_path / "old.json")[1] is None


def test_a_one_sided_index_fits_no_weighing() -> None:
    ids, texts, vectors, labels = _index()
    assert (
        fit_weighing(
            ids,
            texts,
            vectors,
            np.ones_like(labels),
            c=1.0,
            weighing_c=1.0,
            top_k=6,
            excerpt_chars=60,
            embedding_model="m",
        )
        is None
    )


def test_briefs_cite_every_precedent_of_their_side_and_quote_the_closest() -> None:
    neighbours = [Neighbour(id=f"g{i}", text=f"green {i}", label=1, similarity=0.9 - i / 100) for i in range(8)]
    advocate = offline_brief("advocate", "A solar cell", neighbours, 60)
    assert advocate.cited == [f"g{i}" for i in range(8)]
    assert "green 0" in advocate.text and "green 7" not in advocate.text and "g7 (0.83)" in advocate.text
