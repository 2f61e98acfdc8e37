"""Backends by name: `--profile NAME` (or `profile = "NAME"` in the config) picks the backend registered
under NAME.

A backend registers a factory with `@register_backend(NAME)`; the factory takes the settings, the
neighbour search, the roles' prompts and, where the caller shares them, the hf models already loaded,
and returns a `DebateBackend`. The three built-ins (offline, hf, endpoint) register themselves when
their module is first imported, which happens on the first lookup of their name: importing this module
loads no backend, so neither torch nor transformers (the CLI's start-up stays cheap). Tests register a
recording fake the same way and drive the real CLI with `--profile` its name.

Other packages add backends without touching this one, through an entry point (as llm's plugins do):

    [project.entry-points."claimcourt.backends"]
    cloud = "claimcourt_cloud.backend"   # a module that runs @register_backend("cloud") when imported

The entry point's module loads on the first lookup of its name, like a built-in's, so an installed
plugin costs nothing until a run asks for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Protocol

from claimcourt.errors import ConfigError
from claimcourt.vocab import BUILT_IN_PROFILES, BuiltInProfile

if TYPE_CHECKING:
    from claimcourt.config import Settings
    from claimcourt.models.base import DebateBackend
    from claimcourt.prompts.roles import RolePrompts
    from claimcourt.retrieval.search import NeighbourSearch


class BackendFactory(Protocol):
    def __call__(
        self, settings: Settings, search: NeighbourSearch, prompts: RolePrompts, *, hf_models: Any = None
    ) -> DebateBackend: ...


@dataclass(frozen=True)
class RegisteredBackend:
    """A backend's factory, and the built-in profile whose role prompts (templates and placeholders) it
    takes: 'offline' for brief templates and no Judge prompt, 'hf' or 'endpoint' for a model's tasks."""

    name: str
    factory: BackendFactory
    prompts_like: BuiltInProfile


# The module that registers each built-in, imported on the first lookup of its name.
_BUILT_IN_MODULES: dict[BuiltInProfile, str] = {
    "offline": "claimcourt.models.offline.backend",
    "hf": "claimcourt.models.hf.backend",
    "endpoint": "claimcourt.models.endpoint.backend",
}
_registered: dict[str, RegisteredBackend] = {}
# Where other packages declare theirs (see the module's docstring).
ENTRY_POINT_GROUP = "claimcourt.backends"


def register_backend(
    name: str, *, prompts_like: BuiltInProfile = "endpoint"
) -> Callable[[BackendFactory], BackendFactory]:
    """Register the decorated factory under `name` (a later registration of the name replaces it)."""

    def register(factory: BackendFactory) -> BackendFactory:
        _registered[name] = RegisteredBackend(name, factory, prompts_like)
        return factory

    return register


def unregister_backend(name: str) -> None:
    """Forget a name registered beside the built-ins (a test's fake, when the test ends)."""
    _registered.pop(name, None)


def known_backends() -> list[str]:
    """Every name `--profile` accepts: the built-ins first, then the others as registered, then the
    installed plugins' not loaded yet."""
    names = [*BUILT_IN_PROFILES, *(name for name in _registered if name not in BUILT_IN_PROFILES)]
    return names + sorted(name for name in _plugins() if name not in names)


def registered_backend(name: str) -> RegisteredBackend:
    """The backend registered under `name`, or a ConfigError listing the names there are."""
    if name not in _registered and name in _BUILT_IN_MODULES:
        importlib.import_module(_BUILT_IN_MODULES[name])
    if name not in _registered and (plugin := _plugins().get(name)) is not None:
        _load_plugin(name, plugin)
    if name not in _registered:
        known = ", ".join(known_backends())
        raise ConfigError(f"unknown profile '{name}' (--profile, or profile in the config); known profiles: {known}")
    return _registered[name]


def _plugins() -> dict[str, EntryPoint]:
    return {plugin.name: plugin for plugin in entry_points(group=ENTRY_POINT_GROUP)}


def _load_plugin(name: str, plugin: EntryPoint) -> None:
    """Import the plugin's module (which registers its backends); a plugin that fails to import, or that
    registers no backend of its entry point's name, is a one-line ConfigError naming it."""
    where = f"the '{name}' backend's plugin ({plugin.value}, entry point group {ENTRY_POINT_GROUP})"
    try:
        plugin.load()
    except Exception as exc:  # any import-time failure of someone else's package: say whose, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{where} failed to load: {first}") from exc
    if name not in _registered:
        raise ConfigError(f"{where} loaded but registered no backend named '{name}' (@register_backend)")
