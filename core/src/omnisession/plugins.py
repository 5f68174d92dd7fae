"""Backend discovery: pluggy hooks, entry points and the scheme registry.

A plugin is a module exposed through the ``omnisession`` entry-point group
that implements :func:`omnisession_register_backends`::

    from omnisession.plugins import Backend, hookimpl

    @hookimpl
    def omnisession_register_backends(register):
        register(Backend(
            name="mydb",
            schemes=("mydb",),
            factory="omnisession_mydb.store:open_store",   # imported on first use
            capabilities=frozenset({Capability.BASE, Capability.PERSISTENT}),
            description="MyDB through its async driver",
        ))

Entry points are loaded one at a time: a plugin that fails to import or to
register is recorded in :attr:`Registry.errors` (``omnisession backends``
shows it) and every other plugin still loads. Factories given as
``"module:attr"`` strings are imported only when a store is opened, so listing
backends imports no driver.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import pluggy

from . import hookspecs
from .errors import PluginLoadError, UnknownBackend
from .hookspecs import hookimpl, hookspec
from .options import Option
from .store import Capability, SessionStore

__all__ = [
    "ENTRY_POINT_GROUP",
    "Backend",
    "PluginError",
    "Registry",
    "StoreFactory",
    "hookimpl",
    "hookspec",
    "install_hint",
    "open_store",
    "registry",
]

ENTRY_POINT_GROUP = "omnisession"


class StoreFactory(Protocol):
    def __call__(self, url: str, **options: Any) -> SessionStore: ...


@dataclass(frozen=True)
class Backend:
    """A storage backend a plugin offers.

    ``factory`` is a callable ``(url, **options) -> store`` or the
    ``"module:attr"`` path of one, imported lazily. The factory reads its
    options with :func:`omnisession.options.parse_options` and the same
    ``options`` declared here, which ``omnisession backends`` lists.

    ``capabilities`` are what EVERY store of the backend declares;
    ``optional_capabilities`` maps each capability a store declares only in
    some configurations to how to get it (e.g. ``{Capability.TTL: "with
    ?ttl=SECONDS"}``). An opened store declares all of the first and a
    subset of the second, nothing else (the project's tests check each
    built-in backend).
    """

    name: str
    schemes: tuple[str, ...]
    factory: StoreFactory | str
    capabilities: frozenset[Capability] = frozenset({Capability.BASE})
    description: str = ""
    distribution: str | None = None
    version: str | None = None
    options: tuple[Option, ...] = ()
    optional_capabilities: Mapping[Capability, str] = field(default_factory=dict)

    def load_factory(self) -> StoreFactory:
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                target = getattr(target, part)
        except Exception as exc:
            raise PluginLoadError(
                f"backend {self.name!r} ({self.distribution or 'unknown distribution'}): "
                f"cannot import its factory {self.factory!r}: {exc}; reinstall the plugin "
                "with its dependencies"
            ) from exc
        return cast(StoreFactory, target)

    def describe(self) -> dict[str, Any]:
        """The backend as JSON-ready data: everything ``omnisession backends`` lists."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "schemes": list(self.schemes),
            "description": self.description,
            "capabilities": sorted(capability.value for capability in self.capabilities),
            "optional_capabilities": {
                capability.value: how
                for capability, how in sorted(self.optional_capabilities.items())
            },
            "options": [option.describe() for option in self.options],
        }


@dataclass(frozen=True)
class PluginError:
    """A plugin that could not be loaded or registered, and why."""

    plugin: str
    distribution: str | None
    error: str


@dataclass
class Registry:
    """Every installed backend, by scheme, plus what failed to load."""

    plugin_manager: pluggy.PluginManager
    backends: list[Backend] = field(default_factory=list)
    errors: list[PluginError] = field(default_factory=list)
    by_scheme: dict[str, Backend] = field(default_factory=dict)

    def resolve(self, url: str) -> Backend:
        scheme = urlsplit(url).scheme.lower() if "://" in url else ""
        if not scheme:
            raise ValueError(
                f"{url!r} is not a store URL; write it as scheme://..., e.g. memory://"
            )
        try:
            return self.by_scheme[scheme]
        except KeyError:
            raise UnknownBackend(scheme, list(self.by_scheme), install_hint(scheme)) from None

    def open(self, url: str, **options: Any) -> SessionStore:
        backend = self.resolve(url)
        try:
            factory = backend.load_factory()
        except PluginLoadError as exc:
            missing = exc.__cause__
            if isinstance(missing, ModuleNotFoundError):
                scheme = urlsplit(url).scheme.lower()
                raise PluginLoadError(
                    f"{scheme}:// needs the module {missing.name!r}, which is not installed; "
                    f"{install_hint(scheme)}"
                ) from missing
            raise
        return factory(url, **options)


#: Where the schemes of the project's own plugins come from, for install hints.
_KNOWN_SCHEMES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("postgresql+psycopg", "postgresql+psycopg_async"),
        "pip install omnisession-sqlalchemy 'psycopg[binary]'",
    ),
    (("mysql+aiomysql", "mariadb+aiomysql"), "pip install omnisession-sqlalchemy aiomysql"),
    (("sqlite",), "pip install omnisession-sqlalchemy"),
    (("postgresql", "postgres"), "pip install 'omnisession-sqlalchemy[postgresql]'"),
    (("mysql", "mariadb"), "pip install 'omnisession-sqlalchemy[mysql]'"),
    (
        ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"),
        "pip install omnisession-redis",
    ),
    (("dynamodb", "s3"), "pip install omnisession-aws"),
    (("adk+memory", "adk+sqlite"), "pip install 'omnisession[adk]'"),
    (("adk+db",), "pip install 'omnisession[adk-db]'"),
    (("adk+vertexai",), "pip install 'omnisession[vertexai]'"),
)


def install_hint(scheme: str) -> str:
    """What to install for ``scheme``: the distribution (and extra) that provides it.

    A driver suffix (``postgresql+asyncpg``) counts as its database's scheme.
    """
    wanted = scheme.lower()
    for candidate in (wanted, wanted.split("+", 1)[0]):
        for schemes, command in _KNOWN_SCHEMES:
            if candidate in schemes:
                return f"install it with `{command}`, then check `omnisession backends`"
    return (
        "install the plugin that provides it, then check `omnisession backends` "
        "(the project's own: omnisession-sqlalchemy, omnisession-redis, omnisession-aws)"
    )


def _distribution_of(entry_point: EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def build_registry(entry_points_: Iterable[EntryPoint] | None = None) -> Registry:
    """Load every plugin of the ``omnisession`` group into a fresh :class:`Registry`."""
    manager = pluggy.PluginManager("omnisession")
    manager.add_hookspecs(hookspecs)
    registry = Registry(manager)
    origin: dict[str, tuple[str | None, str | None]] = {}
    found = entry_points(group=ENTRY_POINT_GROUP) if entry_points_ is None else entry_points_
    # Core's own plugins first: on a scheme collision the first registration
    # wins, so a third-party plugin can never take over `memory://`.
    ordered = sorted(
        ((_distribution_of(ep), ep) for ep in found),
        key=lambda pair: (pair[0][0] != "omnisession", pair[1].name),
    )
    for dist, entry_point in ordered:
        origin[entry_point.name] = dist
        try:
            manager.register(entry_point.load(), name=entry_point.name)
        except Exception as exc:  # a broken plugin must not break the others
            registry.errors.append(
                PluginError(entry_point.name, origin[entry_point.name][0], _describe(exc))
            )
    # Call each implementation on its own, so one that raises is reported
    # and the others still register, and every backend knows its distribution.
    for impl in manager.hook.omnisession_register_backends.get_hookimpls():
        dist_name, dist_version = origin.get(impl.plugin_name, (None, None))

        def register(
            backend: Backend, _dist: str | None = dist_name, _ver: str | None = dist_version
        ) -> None:
            _add(
                registry,
                replace(
                    backend,
                    schemes=tuple(scheme.lower() for scheme in backend.schemes),
                    distribution=backend.distribution or _dist,
                    version=backend.version or _ver,
                ),
            )

        try:
            impl.function(register=register)
        except Exception as exc:
            registry.errors.append(PluginError(impl.plugin_name, dist_name, _describe(exc)))
    return registry


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _add(registry: Registry, backend: Backend) -> None:
    registry.backends.append(backend)
    for scheme in backend.schemes:
        existing = registry.by_scheme.get(scheme)
        if existing is not None and existing.name != backend.name:
            registry.errors.append(
                PluginError(
                    backend.name,
                    backend.distribution,
                    f"scheme {scheme!r} is already provided by backend {existing.name!r} "
                    f"({existing.distribution}); {backend.name!r} is not used for it. "
                    "Uninstall one of the two plugins.",
                )
            )
            continue
        registry.by_scheme[scheme] = backend


_registry: Registry | None = None
_registry_lock = threading.Lock()


def registry(*, reload: bool = False) -> Registry:
    """The process-wide registry, built on first use."""
    global _registry
    with _registry_lock:
        if _registry is None or reload:
            _registry = build_registry()
        return _registry


def open_store(url: str, **options: Any) -> SessionStore:
    """Open the store a URL names, e.g. ``open_store("sqlite:///chat.db")``.

    The result is an async context manager; connecting is lazy, so this call
    does no I/O. ``options`` go to the backend's factory.
    """
    return registry().open(url, **options)
