"""The web page's small parts on their own: the cue highlighting, the session cookie, loopback."""

from __future__ import annotations

from claimcourt.web.highlight import highlighted
from claimcourt.web.security import SessionCodec, is_loopback


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


def test_only_loopback_names_pass_as_a_host_header() -> None:
    from claimcourt.web.security import loopback_host_header

    good = ("127.0.0.1", "127.0.0.1:8765", "localhost", "LocalHost:1", "[::1]", "[::1]:8765")
    bad = ("", "attacker.example", "attacker.example:8765", "localhost.attacker.example", "127.0.0.1.nip.io")
    bad += ("[::1]x", "[::1", "::1", "127.0.0.1:80x", "evil@127.0.0.1", "0.0.0.0:8765")
    assert all(loopback_host_header(h) for h in good)
    assert not any(loopback_host_header(h) for h in bad), [h for h in bad if loopback_host_header(h)]
