"""The writes of a session: core's one write primitive (``Write``), pop and delete.

:func:`write` carries out a :class:`~omnisession.writes.Write` as ONE
transaction, or as ONE statement where the engine allows:

* **in a transaction** (any write): lock the session row (``SELECT ... FOR
  UPDATE``; SQLite: ``BEGIN IMMEDIATE`` took the write lock), or insert it
  when the write may create it; check ``expected_revision``; delete the
  truncated events; one ``UPDATE`` of the row (revision, next_seq,
  ``updated_at``, the merged session state, the base state while the session
  never had an event); the events (one ``INSERT``, or a batch); one
  multi-row upsert per touched scope (keys in a fixed order, so writers
  cannot deadlock).
* **PostgreSQL, one statement** (a plain append or state update: no
  creation, truncation or numbers of its own): a conditional ``UPDATE`` of the
  session row feeding, through data-modifying ``WITH`` clauses, the event
  ``INSERT`` and the scope upserts, so a failed condition writes nothing; no
  ``BEGIN``/``COMMIT``. When session state must be merged the row is read
  first and the statement is conditional on the revision read
  (compare-and-set, read again if another writer got in between).
* **add_items** (events appended to a session created if missing, nothing
  else): an upsert of the session row that creates it (revision 1) or bumps
  it, reserving the sequence numbers, then one multi-row ``INSERT``. On
  PostgreSQL both are one statement; on MySQL/MariaDB the ``INSERT ...
  SELECT`` reads the reserved numbers itself. Concurrent first writes all
  succeed: the upsert never fails on an existing row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnisession.backend import MAX_COUNT, dumps, loads
from omnisession.errors import AlreadyExists, SessionNotFound, StaleSession
from omnisession.model import SessionKey, StateDelta
from omnisession.writes import Committed, Creation, NewEvent, Write

from .executor import Executor, Row
from .ids import SessionIds, scope_rows
from .options import POSTGRESQL
from .transactions import Access, Database

__all__ = ["delete_session", "pop_item", "write", "write_scopes"]

_COMPARE_ROUNDS = 16


async def write(database: Database, request: Write) -> Committed:
    """Carry out ``request`` atomically (see the module docstring)."""
    ids = SessionIds.of(request.key)
    family = database.family
    # (MySQL through aiomysql cannot send the two statements of one round trip)
    if _is_add_items(request) and (database.native or family == POSTGRESQL):
        return await _add_items(database, request, ids)
    if family == POSTGRESQL and _is_plain(request):
        done = await _write_postgresql(database, request, ids)
        if done is not None:
            return done
    duplicates = database.integrity_errors

    async def transaction(executor: Executor) -> Committed:
        return await _write_locked(executor, request, ids, duplicates)

    return await database.run(transaction, Access.TRANSACTION)


def _is_add_items(request: Write) -> bool:
    return (
        request.creation is Creation.IF_MISSING
        and bool(request.events)
        and request.truncate_from is None
        and request.expected_revision is None
        and not request.delta
        and request.base_state is None
        and all(event.seq is None and event.delta is None for event in request.events)
    )


def _is_plain(request: Write) -> bool:
    return (
        request.creation is Creation.NEVER
        and request.truncate_from is None
        and len(request.events) <= 1
        and all(event.seq is None for event in request.events)
    )


def _numbers(events: Sequence[NewEvent], next_seq: int) -> tuple[list[int], int]:
    """The seq of each event (its own, or the next free one) and the next free one after.

    ``ValueError`` when that would be past 2**63 - 1, the largest number a BIGINT
    column holds: the session would have no number left for another event.
    """
    seqs = []
    for event in events:
        seq = next_seq if event.seq is None else event.seq
        seqs.append(seq)
        next_seq = max(next_seq, seq + 1)
    if next_seq > MAX_COUNT:
        raise ValueError(
            f"event seq {next_seq - 1} leaves no sequence number for the next event: "
            "sequence numbers must stay below 2**63 - 1"
        )
    return seqs, next_seq


async def write_scopes(executor: Executor, key: SessionKey, delta: StateDelta) -> None:
    """Upsert every key of the app and user scopes ``delta`` touches."""
    statements = executor.statements
    if delta.app:
        await executor.execute_many(
            statements.upsert_app, scope_rows(key.app_name, None, delta.app)
        )
    if delta.user:
        await executor.execute_many(
            statements.upsert_user, scope_rows(key.app_name, key.user_id, delta.user)
        )


def _new_row(request: Write, ids: SessionIds, revision: int, next_seq: int) -> dict[str, Any]:
    """The parameters of a created session's row."""
    delta = request.delta
    base = request.base_state if request.base_state is not None else delta.session
    return {
        **ids.row(),
        "revision": revision,
        "next_seq": next_seq,
        "state": dumps(delta.session if revision else {}),
        "base_state": dumps(base),
        "created_at": request.created_at,
        "updated_at": request.updated_at,
    }


async def _write_locked(
    executor: Executor,
    request: Write,
    ids: SessionIds,
    duplicates: tuple[type[BaseException], ...],
) -> Committed:
    """The write as one transaction, with the session row locked (or inserted).

    ``Creation.ONLY`` inserts the row with the write's result at once (a duplicate
    key is ``AlreadyExists``). ``Creation.IF_MISSING`` first inserts an empty row
    (revision 0) unless one exists, without failing or waiting for a lock it
    cannot get when another writer creates it at the same time (``ON CONFLICT
    DO NOTHING`` / ``ON DUPLICATE KEY UPDATE``), then writes to it like to any
    existing session: the created session ends at revision 1.
    """
    statements = executor.statements
    delta = request.delta
    if request.creation is Creation.ONLY:
        seqs, next_seq = _numbers(request.events, 1)
        try:
            session_pk = await executor.insert(
                statements.insert_session, _new_row(request, ids, 1, next_seq)
            )
        except duplicates as exc:
            raise AlreadyExists(request.key) from exc
        await _insert_events(executor, session_pk, request.events, seqs)
        await write_scopes(executor, request.key, delta)
        return Committed(1, seqs[0] if seqs else None)
    if request.creation is Creation.IF_MISSING:
        await executor.execute(statements.insert_missing_session, _new_row(request, ids, 0, 1))
    merge = bool(delta.session)
    found = await executor.row(statements.lock_session(merge), {"key_hash": ids.key_hash})
    if found is None:
        raise SessionNotFound(request.key)
    session_pk, current, next_seq = found[0], int(found[1]), int(found[2])
    expected = request.expected_revision
    if expected is not None and expected != current:
        raise StaleSession(request.key, expected, current)
    never_had_events = next_seq == 1
    if request.truncate_from is not None:
        await executor.execute(
            statements.delete_events_from,
            {"session_pk": session_pk, "from_seq": request.truncate_from},
        )
    seqs, next_seq = _numbers(request.events, next_seq)
    revision = current + 1
    params: dict[str, Any] = {
        "session_pk": session_pk,
        "revision": revision,
        "next_seq": next_seq,
        "updated_at": request.updated_at,
    }
    # the base state is the state before the first event: a state-only write to a
    # session that never had one changes it too
    rebase = merge and never_had_events and not request.events
    if merge:
        params["state"] = _merged(found[3], delta)
    if rebase:
        params["base_state"] = _merged(found[4], delta)
    await executor.execute(statements.update_session(merge, rebase), params)
    await _insert_events(executor, session_pk, request.events, seqs)
    await write_scopes(executor, request.key, delta)
    return Committed(revision, seqs[0] if seqs else None)


def _merged(text: str | None, delta: StateDelta) -> str:
    state: dict[str, Any] = loads(text) if text else {}
    state.update(delta.session)
    return dumps(state, what="session state")


async def _insert_events(
    executor: Executor, session_pk: int, events: Sequence[NewEvent], seqs: list[int]
) -> None:
    rows = [
        {
            "session_pk": session_pk,
            "seq": seq,
            "timestamp": event.timestamp,
            "data": event.data,
            "delta": event.delta,
        }
        for event, seq in zip(events, seqs, strict=True)
    ]
    if len(rows) == 1:
        await executor.execute(executor.statements.insert_event, rows[0])
    elif rows:
        await executor.execute_many(executor.statements.insert_event, rows)


# -- PostgreSQL: one statement --------------------------------------------------------


def _scope_arrays(key: SessionKey, delta: StateDelta) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for kind, user_id, values in (("app", None, delta.app), ("user", key.user_id, delta.user)):
        rows = scope_rows(key.app_name, user_id, values)
        if rows:
            params.update({name: rows[0][name] for name in ("app_hash", "app_name")})
            if user_id is not None:
                params.update(user_hash=rows[0]["user_hash"], user_id=user_id)
            params[f"{kind}_name_hashes"] = [row["name_hash"] for row in rows]
            params[f"{kind}_names"] = [row["name"] for row in rows]
            params[f"{kind}_values"] = [row["value"] for row in rows]
    return params


async def _write_postgresql(
    database: Database, request: Write, ids: SessionIds
) -> Committed | None:
    """PostgreSQL: the write as ONE compare-and-set statement (see the module docstring).

    ``None`` after too many rounds lost to other writers: the caller then takes the
    row lock.
    """
    delta, events, expected = request.delta, request.events, request.expected_revision
    params: dict[str, Any] = {
        "key_hash": ids.key_hash,
        "updated_at": request.updated_at,
        "added": len(events),
        **_scope_arrays(request.key, delta),
    }
    if events:
        params.update(timestamp=events[0].timestamp, data=events[0].data, delta=events[0].delta)
    merge = bool(delta.session)
    compare = merge or expected is not None

    async def read_head(executor: Executor) -> Row | None:
        return await executor.row(executor.statements.session_head, params)

    for _ in range(_COMPARE_ROUNDS):
        rebase = False
        if expected is not None:
            params["expected_revision"] = expected
        if merge:
            head = await database.run(read_head, Access.READ)
            if head is None:
                raise SessionNotFound(request.key)
            revision, next_seq, state, base = int(head[0]), int(head[1]), head[2], head[3]
            if expected is not None and revision != expected:
                raise StaleSession(request.key, expected, revision)
            params["expected_revision"] = revision
            params["state"] = _merged(state, delta)
            rebase = next_seq == 1 and not events
            if rebase:
                params["base_state"] = _merged(base, delta)
        shape = (bool(events), merge, rebase, compare, bool(delta.app), bool(delta.user))

        async def statement(executor: Executor, shape: tuple[bool, ...] = shape) -> Row | None:
            return await executor.row(executor.statements.write_postgresql(*shape), params)

        done = await database.run(statement, Access.STATEMENT)
        if done is not None:
            return Committed(int(done[1]), int(done[0]) if events else None)
        head = await database.run(read_head, Access.READ)
        if head is None:
            raise SessionNotFound(request.key)
        if expected is not None:
            raise StaleSession(request.key, expected, int(head[0]))
    return None


# -- add_items ---------------------------------------------------------------------------


async def _add_items(database: Database, request: Write, ids: SessionIds) -> Committed:
    """Events appended to a session created if missing (see the module docstring)."""
    count = len(request.events)
    params: dict[str, Any] = {
        **ids.row(),
        "count": count,
        "created_at": request.created_at,
        "updated_at": request.updated_at,
    }

    async def operation(executor: Executor) -> Committed:
        statements = executor.statements
        if statements.postgresql:
            found = await executor.row(
                statements.add_items_postgresql,
                {
                    **params,
                    "datas": [event.data for event in request.events],
                    "timestamps": [event.timestamp for event in request.events],
                },
            )
            assert found is not None
            return Committed(int(found[1]), int(found[0]))
        if statements.mysql:
            await executor.execute(statements.reserve_seqs, params)
            items: dict[str, Any] = {"count": count, "key_hash": ids.key_hash}
            for index, event in enumerate(request.events):
                items[f"data_{index}"] = event.data
                items[f"timestamp_{index}"] = event.timestamp
            found = await executor.row(statements.insert_items_mysql(count), items)
            assert found is not None
            return Committed(int(found[1]), int(found[0]))
        found = await executor.row(statements.reserve_seqs, params)
        assert found is not None
        session_pk, first, revision = int(found[0]), int(found[1]), int(found[2])
        seqs = list(range(first, first + count))
        await _insert_events(executor, session_pk, request.events, seqs)
        return Committed(revision, first)

    access = Access.STATEMENT if database.family == POSTGRESQL else Access.TRANSACTION
    return await database.run(operation, access)


# -- pop, delete -----------------------------------------------------------------------


async def pop_item(database: Database, key: SessionKey, stamp: float) -> str | None:
    """Lock the session row, delete its newest event returning it, bump the revision.

    The row lock makes concurrent pops (any process) take turns, so each item
    is returned once and no pop comes back empty while items remain.
    """
    ids = SessionIds.of(key)

    async def operation(executor: Executor) -> str | None:
        statements = executor.statements
        found = await executor.row(statements.lock_session(False), {"key_hash": ids.key_hash})
        if found is None:
            return None
        session_pk = found[0]
        text: str | None
        if statements.features.delete_returning:
            popped = await executor.row(statements.pop_newest, {"session_pk": session_pk})
            text = None if popped is None else popped[0]
        else:
            newest = await executor.row(statements.newest_event, {"session_pk": session_pk})
            text = None if newest is None else newest[1]
            if newest is not None:
                await executor.execute(
                    statements.delete_event, {"session_pk": session_pk, "seq": newest[0]}
                )
        if text is not None:
            await executor.execute(
                statements.bump_session, {"session_pk": session_pk, "updated_at": stamp}
            )
        return text

    return await database.run(operation, Access.TRANSACTION)


async def delete_session(database: Database, key: SessionKey) -> None:
    """Lock the row, delete its events and it; app and user state stay."""
    ids = SessionIds.of(key)

    async def operation(executor: Executor) -> None:
        statements = executor.statements
        found = await executor.row(statements.lock_session(False), {"key_hash": ids.key_hash})
        if found is None:
            return
        await executor.execute(statements.delete_events, {"session_pk": found[0]})
        await executor.execute(statements.delete_session, {"session_pk": found[0]})

    await database.run(operation, Access.TRANSACTION)
