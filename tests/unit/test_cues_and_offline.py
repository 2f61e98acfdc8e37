from __future__ import annotations

import numpy as np
import pytest

from claimcourt.models.cues import Y02_SUBCLASSES, find_cues, lexicon
from claimcourt.models.offline.backend import LinearClassifier, knn_vote
from claimcourt.state import Neighbour


def test_lexicon_covers_every_y02_subclass() -> None:
    titles, cues = lexicon()
    assert set(titles) == set(Y02_SUBCLASSES)
    for subclass in Y02_SUBCLASSES:
        assert any(c.subclass == subclass and c.strong for c in cues), subclass


@pytest.mark.parametrize(
    ("text", "subclass"),
    [
        ("A photovoltaic module with a bypass diode", "Y02E"),
        ("a method of recycling polymer waste", "Y02W"),
        ("an electric vehicle charging station", "Y02T"),
        ("capturing carbon dioxide from flue gas", "Y02C"),
        ("a heat pump water heater", "Y02B"),
        ("entering a sleep mode to reduce power consumption", "Y02D"),
        ("a drip irrigation emitter", "Y02A"),
        ("a biodegradable film", "Y02P"),
    ],
)
def test_cues_find_each_subclass(text: str, subclass: str) -> None:
    assert subclass in {m.subclass for m in find_cues(text) if m.strong}


def test_no_cues_in_an_unrelated_claim() -> None:
    assert find_cues("A golf club head comprising a face insert of titanium alloy") == []


def test_knn_vote_is_similarity_weighted() -> None:
    near_green = Neighbour(id="a", text="", label=1, similarity=0.9)
    far_other = Neighbour(id="b", text="", label=0, similarity=0.1)
    assert knn_vote([near_green, far_other]) == pytest.approx(0.9, abs=1e-4)
    assert knn_vote([]) is None


def test_classifier_round_trips_and_separates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    green = rng.normal(1.0, 0.3, size=(30, 4))
    other = rng.normal(-1.0, 0.3, size=(30, 4))
    vectors = np.vstack([green, other]).astype(np.float32)
    labels = np.array([1] * 30 + [0] * 30)
    clf = LinearClassifier.fit(vectors, labels, c=1.0, embedding_model="m")
    path = tmp_path / "clf.json"
    clf.save(path)
    loaded = LinearClassifier.load(path)
    assert loaded.p_green(np.ones(4)) > 0.9
    assert loaded.p_green(-np.ones(4)) < 0.1
    assert loaded.embedding_model == "m"


def test_single_class_index_gives_the_smoothed_prior() -> None:
    clf = LinearClassifier.fit(np.zeros((3, 2)), np.array([1, 1, 1]), c=1.0, embedding_model="m")
    assert clf.p_green(np.ones(2)) == pytest.approx(0.8)
