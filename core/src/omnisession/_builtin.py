"""Core's own plugin: registers ``memory://`` and the ``adk+...`` schemes through the
same hook as any plugin.

Nothing here imports a driver or ``google.adk``: factories are ``"module:attr"``
strings, imported when a store is opened. The options and capabilities of both
backends are declared here, once, as data: ``omnisession backends`` lists them
from the :class:`~omnisession.plugins.Backend` values, and the stores and their
factories use the very same constants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .hookspecs import hookimpl
from .manage.openai_sources import register_backends as register_openai_sources
from .options import Option
from .plugins import Backend
from .store import Capability

__all__ = [
    "ADK_CAPABILITIES",
    "ADK_OPTIONAL_CAPABILITIES",
    "ADK_OPTIONS",
    "ADK_OPTION_SCHEMES",
    "ADK_SCHEMES",
    "MEMORY_CAPABILITIES",
    "omnisession_register_backends",
]

# -- memory:// ---------------------------------------------------------------------------

MEMORY_CAPABILITIES = frozenset(
    {Capability.BASE, Capability.LARGE_ENTRIES, Capability.REPLACE, Capability.LIFECYCLE}
)
"""What every ``memory://`` store declares (it has no optional capability and no option)."""

# -- adk+... -------------------------------------------------------------------------------

ADK_SCHEMES = ("adk+memory", "adk+sqlite", "adk+db", "adk+vertexai")

ADK_CAPABILITIES = frozenset({Capability.BASE, Capability.REPLACE})
"""What every ``adk+`` store declares, whatever the ADK service behind it.

``REPLACE``: a replacement is one ``append_event`` of the service (a marker
hiding the replaced entries, plus the new ones), as atomic as any write of the
store; its revision check is exact within a process and, across processes, as
good as the service's own stale-writer check (see :mod:`omnisession.adk_store`)."""

ADK_OPTIONAL_CAPABILITIES: Mapping[Capability, str] = {
    Capability.PERSISTENT: (
        "adk+sqlite:///FILE, adk+db:// on a database that is not SQLite in memory, adk+vertexai://"
    ),
    Capability.LARGE_ENTRIES: (
        "adk+memory://, adk+sqlite://, adk+db:// (the local services; not measured on "
        "Vertex AI, whose request size limit applies)"
    ),
}
"""What some ``adk+`` stores declare, and how to get it. ``LIFECYCLE`` is never
declared: ADK's session API has no way to delete app: or user: state, so no
``adk+`` store can erase a user or an app (see :mod:`omnisession.adk_store` for
what each lifecycle operation does on each service)."""

_DB = "adk+db"
ADK_OPTIONS: tuple[Option, ...] = (
    Option(
        "ids",
        str,
        None,
        "how keys are spelled as the service's ids: 'plain' (as given; what ADK's own "
        "Runner writes, so its sessions are readable) or 'hashed' (the whole key hashed "
        "into one short id, for the Agent Engine's restricted, app-less ids); default: "
        "hashed on adk+vertexai, plain elsewhere",
        choices=("plain", "hashed"),
    ),
    Option(
        "express_mode_api_key",
        str,
        None,
        "adk+vertexai: the Vertex AI express mode API key (default: GOOGLE_API_KEY when "
        "GOOGLE_GENAI_USE_ENTERPRISE is set, see VertexAiSessionService)",
    ),
    Option(
        "pool_size",
        int,
        None,
        "adk+db: connections the SQLAlchemy engine keeps open (its default: 5)",
        minimum=1,
    ),
    Option(
        "max_overflow",
        int,
        None,
        "adk+db: connections opened beyond pool_size under load (its default: 10)",
        minimum=0,
    ),
    Option(
        "pool_timeout",
        float,
        None,
        "adk+db: seconds to wait for a free connection (its default: 30)",
        minimum=0,
    ),
    Option(
        "pool_recycle",
        float,
        None,
        "adk+db: seconds after which a connection is replaced (default: never)",
        minimum=0,
    ),
    Option(
        "echo",
        bool,
        None,
        "adk+db: log every statement the SQLAlchemy engine sends",
    ),
)
"""Every option of the ``adk+`` schemes (query of the URL or keywords of ``open_store``).

The query of an ``adk+db://`` URL is read as these options, not passed to the
database driver."""

ADK_OPTION_SCHEMES: Mapping[str, tuple[str, ...]] = {
    "ids": ADK_SCHEMES,
    "express_mode_api_key": ("adk+vertexai",),
    "pool_size": (_DB,),
    "max_overflow": (_DB,),
    "pool_timeout": (_DB,),
    "pool_recycle": (_DB,),
    "echo": (_DB,),
}
"""The schemes each option applies to; one given to another scheme is refused."""


@hookimpl
def omnisession_register_backends(register: Callable[[Backend], None]) -> None:
    register(
        Backend(
            name="memory",
            schemes=("memory",),
            factory="omnisession.memory:open_memory_store",
            capabilities=MEMORY_CAPABILITIES,
            description="in-process reference store; memory://NAME shares one engine per process",
        )
    )
    register(
        Backend(
            name="adk",
            schemes=ADK_SCHEMES,
            factory="omnisession.adk_store:open_adk_store",
            capabilities=ADK_CAPABILITIES,
            optional_capabilities=ADK_OPTIONAL_CAPABILITIES,
            options=ADK_OPTIONS,
            description=(
                "an existing Google ADK session service as a store (needs omnisession[adk]): "
                "adk+memory://[NAME], adk+sqlite:///FILE, adk+db://SQLALCHEMY_URL, "
                "adk+vertexai://PROJECT/LOCATION/AGENT_ENGINE_ID"
            ),
        )
    )
    # Read-only sources for the OpenAI Agents SDK's own stores (omnisession.manage):
    # openai+sqlite, openai+postgresql/mysql/mariadb, openai+redis/rediss.
    register_openai_sources(register)
