"""What omnisession.adk_store relies on in google-adk: fails loudly when upstream changes.

Every internal goes through ``omnisession.adk_store._upstream``; each test here
names what broke, so an upgrade of google-adk that moves one of them fails
this file instead of quietly changing what an ``adk+`` store declares.
"""

from __future__ import annotations

from pathlib import Path

import google.adk.errors
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig
from google.adk.sessions.database_session_service import DatabaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.adk.sessions.schemas import v0, v1
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from omnisession.adk_store._upstream import APP_TABLES, ServiceKind, service_kind, sqlite_path

from .vertex_fake import FakeAgentEngine, OfflineVertexAiSessionService


def test_sqlite_session_service_still_keeps_its_file_in_db_path(tmp_path: Path) -> None:
    path = str(tmp_path / "adk.db")
    assert sqlite_path(SqliteSessionService(path)) == path, (
        "SqliteSessionService no longer keeps its file in _db_path: update "
        "omnisession.adk_store._upstream.sqlite_path (adk+sqlite would stop declaring "
        "persistent)"
    )
    assert sqlite_path(SqliteSessionService(":memory:")) == ":memory:"


def test_every_adk_service_is_recognised_by_its_class(tmp_path: Path) -> None:
    services = {
        ServiceKind.IN_MEMORY: InMemorySessionService(),
        ServiceKind.DATABASE: DatabaseSessionService(f"sqlite+aiosqlite:///{tmp_path}/a.db"),
        ServiceKind.SQLITE: SqliteSessionService(str(tmp_path / "b.db")),
        ServiceKind.VERTEX_AI: OfflineVertexAiSessionService(FakeAgentEngine()),
    }
    for kind, service in services.items():
        assert service_kind(service) is kind, (
            f"{type(service).__name__} moved: update the qualified names of "
            "omnisession.adk_store._upstream.ServiceKind"
        )

    class Community(InMemorySessionService):
        pass

    assert service_kind(Community()) is ServiceKind.IN_MEMORY  # subclasses count


def test_the_public_api_the_store_uses_is_still_there() -> None:
    assert issubclass(google.adk.errors.StaleSessionError, Exception), (
        "google.adk.errors no longer exports StaleSessionError"
    )
    assert {"num_recent_events", "after_timestamp"} <= set(GetSessionConfig.model_fields)
    assert {"custom_metadata", "actions", "timestamp", "partial"} <= set(Event.model_fields)
    assert "state_delta" in EventActions.model_fields
    for method in ("create_session", "get_session", "list_sessions", "delete_session"):
        assert callable(getattr(BaseSessionService, method))
    assert callable(BaseSessionService.get_user_state)
    assert callable(DatabaseSessionService.prepare_tables), (
        "DatabaseSessionService.prepare_tables is gone: the store calls it at first use"
    )


def test_adks_tables_still_name_their_apps_where_list_apps_reads_them() -> None:
    for schema in (v0, v1):
        tables = {table.name: table for table in schema.Base.metadata.sorted_tables}
        for name in APP_TABLES:
            assert name in tables and "app_name" in tables[name].columns, (
                f"ADK's {schema.__name__} schema has no {name}.app_name: update "
                "omnisession.adk_store._upstream.APP_TABLES (list_apps reads it)"
            )
    for attribute in ("sessions", "app_state", "user_state"):
        assert isinstance(getattr(InMemorySessionService(), attribute), dict), (
            f"InMemorySessionService.{attribute} is gone: update _upstream.app_names"
        )
