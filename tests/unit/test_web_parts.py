"""The web page's small parts on their own: leases, the cue highlighting, the session cookie, loopback."""

from __future__ import annotations

from typing import Any

from claimcourt.web.desks import Leases
from claimcourt.web.highlight import highlighted
from claimcourt.web.security import SessionCodec, is_loopback


class FakeDesk:
    """Only what the leases read: the queue, lowest confidence first."""

    def __init__(self, queue: list[str]) -> None:
        self.waiting = queue

    def queue(self, **_: Any) -> list[str]:
        return list(self.waiting)


def test_leases_give_each_reviewer_their_own_claim_and_keep_it_on_reload() -> None:
    leases = Leases(FakeDesk(["c1", "c2", "c3"]))  # type: ignore[arg-type]
    assert leases.take_next("ann") == "c1"
    assert leases.take_next("bob") == "c2"
    assert leases.take_next("ann") == "c1"  # a reload: the same claim
    assert leases.holder("c1") == "ann"
    leases.release("c1", "bob")  # not bob's to give back
    assert leases.holder("c1") == "ann"
    leases.release("c1", "ann")
    assert leases.take_next("bob") == "c2"
    assert leases.take_next("cat", skip={"c1"}) == "c3"
    assert leases.take_next("dan") == "c1"
    assert leases.take_next("eve") is None


def test_a_lease_lapses_without_renewal_and_a_renewal_keeps_it() -> None:
    now = [0.0]
    leases = Leases(FakeDesk(["c1", "c2"]), seconds=300, clock=lambda: now[0])  # type: ignore[arg-type]
    assert leases.take_next("ann") == "c1"
    assert leases.take_next("bob") == "c2"
    now[0] = 200
    assert leases.renew("c1", "ann")
    assert not leases.renew("c1", "bob")
    now[0] = 301
    # ann renewed, bob did not: c2 is free again, c1 is still ann's.
    assert leases.holder("c1") == "ann" and leases.holder("c2") is None
    assert leases.take_next("cat") == "c2"
    assert leases.take("c1", "cat") is False
    assert leases.take("c2", "cat") is True


def test_cues_are_marked_and_everything_else_is_escaped() -> None:
    html = str(highlighted("A <b>solar cell</b> & a wind turbine {{ x }}"))
    assert "&lt;b&gt;" in html and "&amp;" in html and "{{ x }}" in html
    assert '<mark class="cue strong"' in html
    assert ">solar cell</mark>" in html or ">solar</mark>" in html
    assert "<b>" not in html


def test_control_characters_in_a_claim_become_visible() -> None:
    assert "\x1b" not in str(highlighted("text \x1b[2J more"))


def test_a_tampered_session_cookie_is_refused() -> None:
    codec = SessionCodec(b"k" * 32)
    cookie = codec.dumps({"reviewer": "ann", "csrf": "t"})
    assert codec.loads(cookie) == {"reviewer": "ann", "csrf": "t"}
    body, _, signature = cookie.rpartition(".")
    forged = SessionCodec(b"other").dumps({"reviewer": "mallory", "csrf": "t"})
    assert codec.loads(forged) is None
    assert codec.loads(body + "." + "0" * len(signature)) is None
    assert codec.loads("garbage") is None and codec.loads(None) is None


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.1.2.3", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.10", "example.org"))
