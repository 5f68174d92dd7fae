"""Session management on SQL: create, fork, purge, erase, list apps, scope updates.

Each is one transaction (one statement where noted):

* ``create_session``: ``INSERT`` of the row (a duplicate key is
  ``AlreadyExists``), the scope upserts, one read of both scopes.
* ``fork_session``: lock the source row; its newest seq (an index lookup);
  for a fork at an earlier event, the recorded deltas of the kept events; one
  ``INSERT`` of the new row; ONE ``INSERT ... SELECT`` copying the events on
  the server (nothing of the history travels to the client); one read of the
  target's scopes.
* purge's ``_delete_idle``: ``DELETE ... WHERE key_hash IN (...) AND
  updated_at < cutoff RETURNING id`` (MySQL 8: ``SELECT ... FOR UPDATE``
  first), then the events of the deleted sessions: the condition is checked
  under the row lock, so a session written after the cutoff is never
  deleted, and no event of a deleted session survives.
* ``erase_user`` / ``erase_app``: the sessions, their events and the scope(s)
  in one transaction. On PostgreSQL ONE statement in a REPEATABLE READ
  transaction: a create racing the erase is either wholly in its snapshot
  (erased with its scope) or wholly after it (kept whole), and a row changed
  behind it makes PostgreSQL roll the erase back and it runs again. On
  MySQL/MariaDB the owner's sessions are locked first (``SELECT COUNT(*) ...
  FOR UPDATE``, which also locks the index gap, so no session of theirs can
  be created until the erase commits). SQLite: ``BEGIN IMMEDIATE``.
* ``list_apps``: one statement over the three tables that name apps.
* ``update_app_state`` / ``update_user_state``: one multi-row upsert
  (PostgreSQL: one statement from arrays).
"""

from __future__ import annotations

from typing import Any

from omnisession.backend import dumps, loads
from omnisession.errors import AlreadyExists, SessionNotFound
from omnisession.model import JSONObject, SessionKey, StateDelta, split_state

from .executor import Executor, Row
from .ids import SessionIds, app_hash, scope_rows, user_hash
from .transactions import Access, Database
from .writing import write_scopes

__all__ = ["create_session", "delete_idle", "erase", "fork_session", "list_apps", "update_scope"]


async def create_session(
    database: Database, key: SessionKey, delta: StateDelta, stamp: float
) -> list[Row]:
    """Create the session (revision 1) with ``delta``; the rows of both its scopes."""
    ids = SessionIds.of(key)
    state = dumps(delta.session)
    duplicates = database.integrity_errors

    async def operation(executor: Executor) -> list[Row]:
        statements = executor.statements
        try:
            await executor.execute(
                statements.insert_session,
                {
                    **ids.row(),
                    "revision": 1,
                    "next_seq": 1,
                    "state": state,
                    "base_state": state,
                    "created_at": stamp,
                    "updated_at": stamp,
                },
            )
        except duplicates as exc:
            raise AlreadyExists(key) from exc
        await write_scopes(executor, key, delta)
        return await executor.rows(statements.both_scopes, ids.lookup())

    return await database.run(operation, Access.TRANSACTION)


async def fork_session(
    database: Database, source: SessionKey, target: SessionKey, up_to: int | None, stamp: float
) -> tuple[str, str | None, list[Row]]:
    """Copy ``source`` to ``target`` on the server; ``(state, base_state, target scopes)``.

    The copy's session state is the source's current state for a whole fork
    (``up_to`` None or at/after its newest event), else the source's base state
    plus the session keys of each kept event's recorded delta. Its base state
    is the source's. Revision 1, created now, next seq after its newest event.
    """
    source_ids, target_ids = SessionIds.of(source), SessionIds.of(target)
    duplicates = database.integrity_errors

    async def operation(executor: Executor) -> tuple[str, str | None, list[Row]]:
        statements = executor.statements
        found = await executor.row(statements.lock_session(True), {"key_hash": source_ids.key_hash})
        if found is None:
            raise SessionNotFound(source)
        source_pk, state, base = found[0], str(found[3]), found[4]
        newest = await _one(executor, statements.newest_seq(False), {"session_pk": source_pk})
        whole = up_to is None or newest is None or up_to >= newest
        bounds: dict[str, Any] = {"session_pk": source_pk}
        if not whole:
            bounds["up_to"] = up_to
            newest = await _one(executor, statements.newest_seq(True), bounds)
            rebuilt: JSONObject = loads(base) if base else {}
            for (recorded,) in await executor.rows(statements.recorded_deltas, bounds):
                rebuilt.update(split_state(loads(recorded)).session)
            state = dumps(rebuilt, what="session state")
        try:
            target_pk = await executor.insert(
                statements.insert_session,
                {
                    **target_ids.row(),
                    "revision": 1,
                    "next_seq": (newest or 0) + 1,
                    "state": state,
                    "base_state": base,
                    "created_at": stamp,
                    "updated_at": stamp,
                },
            )
        except duplicates as exc:
            raise AlreadyExists(target) from exc
        copied = {"target_pk": target_pk, "source_pk": source_pk}
        if not whole:
            copied["up_to"] = up_to
        await executor.execute(statements.copy_events(not whole), copied)
        return state, base, await executor.rows(statements.both_scopes, target_ids.lookup())

    return await database.run(operation, Access.TRANSACTION)


async def _one(executor: Executor, statement: Any, params: dict[str, Any]) -> int | None:
    found = await executor.row(statement, params)
    return None if found is None or found[0] is None else int(found[0])


async def delete_idle(database: Database, keys: list[SessionKey], updated_before: float) -> int:
    """Delete each of ``keys`` still idle (``updated_at < updated_before``); how many."""
    hashes = sorted(SessionIds.of(key).key_hash for key in keys)
    params: dict[str, Any] = {"key_hashes": hashes, "cutoff": updated_before}

    async def operation(executor: Executor) -> int:
        statements = executor.statements
        if statements.features.delete_returning:
            doomed = [
                row[0] for row in await executor.rows(statements.delete_idle_sessions, params)
            ]
            if doomed:
                await executor.execute(statements.delete_events_of, {"session_pks": doomed})
            return len(doomed)
        doomed = [row[0] for row in await executor.rows(statements.lock_idle_sessions, params)]
        if doomed:
            await executor.execute(statements.delete_events_of, {"session_pks": doomed})
            await executor.execute(statements.delete_sessions_by_id, {"session_pks": doomed})
        return len(doomed)

    return await database.run(operation, Access.TRANSACTION)


async def erase(database: Database, app_name: str, user_id: str | None) -> int:
    """Delete every session of the user (the app) and its scope(s); sessions deleted."""
    by_user = user_id is not None
    params: dict[str, Any] = {"app_hash": app_hash(app_name)}
    if user_id is not None:
        params["user_hash"] = user_hash(app_name, user_id)

    async def operation(executor: Executor) -> int:
        statements = executor.statements
        if statements.postgresql:
            return await _one(executor, statements.erase_postgresql(by_user), params) or 0
        if statements.mysql:
            await executor.row(statements.lock_owned_sessions(by_user), params)
        await executor.execute(statements.delete_owned_events(by_user), params)
        erased = await executor.execute(statements.delete_owned_sessions(by_user), params)
        await executor.execute(statements.delete_user_scopes(by_user), params)
        if not by_user:
            await executor.execute(statements.delete_app_scope, params)
        return erased

    return await database.run(operation, Access.SNAPSHOT)


async def list_apps(database: Database) -> list[str]:
    """Every app named by a session or a scope."""

    async def operation(executor: Executor) -> list[Row]:
        return await executor.rows(executor.statements.list_apps, {})

    return sorted({str(row[0]) for row in await database.run(operation, Access.READ)})


async def update_scope(
    database: Database, app_name: str, user_id: str | None, values: JSONObject
) -> None:
    """Merge ``values`` into the app scope (``user_id`` None) or the user's scope."""
    rows = scope_rows(app_name, user_id, values)
    if not rows:
        return
    user = user_id is not None
    kind = "user" if user else "app"

    async def operation(executor: Executor) -> None:
        statements = executor.statements
        if statements.postgresql:
            params: dict[str, Any] = {
                name: rows[0][name]
                for name in ("app_hash", "app_name", "user_hash", "user_id")
                if name in rows[0]
            }
            params[f"{kind}_name_hashes"] = [row["name_hash"] for row in rows]
            params[f"{kind}_names"] = [row["name"] for row in rows]
            params[f"{kind}_values"] = [row["value"] for row in rows]
            await executor.execute(statements.update_scope_postgresql(user), params)
            return
        upsert = statements.upsert_user if user else statements.upsert_app
        await executor.execute_many(upsert, rows)

    access = Access.STATEMENT if database.family == "postgresql" else Access.TRANSACTION
    await database.run(operation, access)
