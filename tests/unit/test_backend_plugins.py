"""A backend another package provides is found through its entry point (group `claimcourt.backends`) on
the first lookup of its name: a real distribution (its dist-info on sys.path, as pip installs one), not a
patched lookup."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from claimcourt.errors import ConfigError
from claimcourt.models.registry import ENTRY_POINT_GROUP, known_backends, registered_backend, unregister_backend

PLUGIN = """
from claimcourt.models.registry import register_backend

LOADED = []

@register_backend("{name}", prompts_like="offline")
def build(settings, search, prompts, *, hf_models=None):
    LOADED.append(settings)
    return None
"""


def _install(site: Path, package: str, module_text: str, entry: str) -> None:
    """What pip leaves behind for a package with one entry point: its module and its dist-info."""
    (site / package).mkdir()
    (site / package / "__init__.py").write_text(module_text)
    info = site / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("plugged", "broken", "silent"):
        unregister_backend(name)
    for module in ("plugged_pkg", "broken_pkg", "silent_pkg"):
        sys.modules.pop(module, None)


def test_an_installed_plugin_is_listed_then_loaded_on_first_use(site: Path) -> None:
    _install(site, "plugged_pkg", PLUGIN.format(name="plugged"), "plugged = plugged_pkg")
    assert "plugged_pkg" not in sys.modules
    assert known_backends()[:3] == ["offline", "hf", "endpoint"] and "plugged" in known_backends()
    assert "plugged_pkg" not in sys.modules  # listing the names loads nothing
    backend = registered_backend("plugged")
    assert (backend.name, backend.prompts_like) == ("plugged", "offline")
    assert "plugged_pkg" in sys.modules


def test_a_plugin_that_fails_to_import_is_named_in_one_line(site: Path) -> None:
    _install(site, "broken_pkg", "raise ImportError('needs cloudlib>=2')\n", "broken = broken_pkg")
    with pytest.raises(ConfigError) as info:
        registered_backend("broken")
    message = str(info.value)
    assert "'broken' backend's plugin (broken_pkg" in message and "needs cloudlib>=2" in message
    assert "\n" not in message


def test_a_plugin_that_registers_another_name_says_so(site: Path) -> None:
    _install(site, "silent_pkg", PLUGIN.format(name="something_else"), "silent = silent_pkg")
    with pytest.raises(ConfigError, match="registered no backend named 'silent'"):
        registered_backend("silent")
    unregister_backend("something_else")
