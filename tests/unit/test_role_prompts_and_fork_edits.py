"""The roles' templates as configuration (what Studio edits) reach every profile's prompts; a fork's edit
is checked against the claim's state before anything is written."""

from __future__ import annotations

import pytest

from claimcourt.config import EndpointSettings
from claimcourt.errors import ConfigError, InputError
from claimcourt.models.endpoint.backend import EndpointBackend
from claimcourt.models.offline.briefs import offline_brief
from claimcourt.prompts import roles
from claimcourt.prompts.roles import RolePrompts
from claimcourt.state import Argument, ClaimState, Neighbour
from claimcourt.trace.fork import ForkEdit

NEIGHBOURS = [
    Neighbour(id="g1", text="a wind turbine blade", label=1, similarity=0.9),
    Neighbour(id="n1", text="a shoe sole", label=0, similarity=0.5),
]
# Never contacted: rendering a prompt sends nothing.
SERVED = EndpointSettings(url="http://127.0.0.1:9/v1", debater_model="d", judge_model="j")
STATE = ClaimState(
    claim_id="c",
    text="A solar panel mount.",
    neighbours=NEIGHBOURS,
    advocate=Argument(role="advocate", text="green", cited=["g1"]),
    skeptic=Argument(role="skeptic", text="not green", cited=["n1"]),
)


def test_the_defaults_are_todays_templates() -> None:
    assert offline_brief("advocate", STATE.text, NEIGHBOURS, 80) == offline_brief(
        "advocate", STATE.text, NEIGHBOURS, 80, roles.OFFLINE.advocate
    )
    endpoint = EndpointBackend(SERVED)
    assert endpoint.prompts == roles.LLM and endpoint.judge_prompt(STATE)[0].startswith(roles.LLM.judge or "")


def test_edited_templates_reach_the_prompts() -> None:
    brief = offline_brief("skeptic", STATE.text, NEIGHBOURS, 80, "AGAINST: {precedents} / {cue_assessment}")
    assert brief.text.startswith("AGAINST: ") and "n1" in brief.text
    edited = RolePrompts(advocate="Argue FOR in {words} words.", skeptic="Argue AGAINST.", judge="### Task: Y02?")
    endpoint = EndpointBackend(
        EndpointSettings(url="http://127.0.0.1:9/v1", debater_model="d", judge_model="j"), edited
    )
    assert endpoint.argue_message("advocate", STATE)[0].endswith("Argue FOR in 76 words.")
    assert endpoint.argue_message("skeptic", STATE)[0].endswith("Argue AGAINST.")
    assert endpoint.judge_prompt(STATE)[0].startswith("### Task: Y02?\n")


@pytest.mark.parametrize(
    ("profile", "prompts", "says"),
    [
        ("offline", RolePrompts("{precedents} {verdict}", roles.OFFLINE.skeptic, None), "{verdict}"),
        ("hf", RolePrompts("{words}", "{precedents}", "task"), "{precedents}"),
        ("endpoint", RolePrompts("{words", "x", "task"), "not a valid template"),
        ("offline", RolePrompts("a", "b", "a judge prompt"), "reads no prompt"),
    ],
)
def test_templates_a_profile_cannot_fill_are_refused(profile: str, prompts: RolePrompts, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("{", r"\{").replace("}", r"\}")):
        prompts.checked(profile)


def test_a_fork_edit_removes_the_precedent_and_its_citations() -> None:
    update = ForkEdit(drop_neighbours=("g1",)).update(STATE, "judge")
    assert [n["id"] for n in update["neighbours"]] == ["n1"]
    assert update["advocate"]["cited"] == [] and update["advocate"]["text"] == "green"
    replaced = ForkEdit(skeptic="it only holds a panel").update(STATE, "judge")
    assert set(replaced) == {"skeptic"} and replaced["skeptic"]["text"] == "it only holds a panel"
    assert replaced["skeptic"]["backend"] == "edited"


@pytest.mark.parametrize(
    ("edit", "at", "says"),
    [
        (ForkEdit(drop_neighbours=("zz",)), "judge", "has no neighbour 'zz'; its neighbours: g1, n1"),
        (ForkEdit(advocate="x"), "skeptic", "would be argued again"),
        (ForkEdit(), "retrieve", "cannot fork before 'retrieve'"),
    ],
)
def test_a_fork_edit_that_cannot_be_made_says_why(edit: ForkEdit, at: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        edit.update(STATE, at)
