"""What the three OpenAI SDK sources share: the key mapping, the read hooks, no writes.

A source implements four engine reads (:meth:`SDKSource._head`,
:meth:`SDKSource._rows`, :meth:`SDKSource._session_page`,
:meth:`SDKSource._any_session`); this class turns them into the read side
of the store contract as :class:`~omnisession.backend.ValidatingStore`
hooks, and refuses every write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ... import _json
from ...backend import ValidatingStore
from ...errors import InvalidKey, InvalidOption, Unsupported
from ...model import Event, JSONObject, Page, SessionKey, SessionRecord
from ...writes import Committed, Write
from . import CAPABILITIES

__all__ = [
    "KeyMapping",
    "Row",
    "SDKSource",
    "SessionRow",
    "check_table_name",
    "posix_seconds",
]

logger = logging.getLogger("omnisession.manage")


@dataclass(frozen=True, slots=True)
class Row:
    """One stored item: its number (``seq``), time and JSON text."""

    seq: int
    timestamp: float
    text: str | bytes


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One SDK session as listed: id, times and the engine's own sort position."""

    session_id: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class KeyMapping:
    """How an SDK session id becomes a :class:`SessionKey`, and back.

    ``(app, user or session_id, session_id)``: what ``OmniSession(session_id,
    app_name=app, user_id=user)`` uses, so a copied conversation continues there.
    """

    app: str
    user: str | None

    def key(self, session_id: str) -> SessionKey:
        return SessionKey(self.app, session_id if self.user is None else self.user, session_id)

    def session_id(self, key: SessionKey) -> str | None:
        """The SDK session id ``key`` stands for, or ``None`` if this source has no such key."""
        if key.app_name != self.app:
            return None
        wanted_user = key.session_id if self.user is None else self.user
        return key.session_id if key.user_id == wanted_user else None

    def listing(self, app_name: str, user_id: str | None) -> tuple[bool, str | None]:
        """``(any_match, only_session_id)`` for ``list_sessions(app_name, user_id)``."""
        if app_name != self.app:
            return False, None
        if user_id is None:
            return True, None
        if self.user is None:
            return True, user_id  # user = session id: that one session
        return user_id == self.user, None


def posix_seconds(value: Any) -> float | None:
    """A stored timestamp (SQL text, a naive UTC datetime, Redis seconds) as POSIX seconds."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, datetime):
        moment: datetime = value
        if moment.tzinfo is None:  # CURRENT_TIMESTAMP: UTC
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


class SDKSource(ValidatingStore):
    """A read-only view of an OpenAI SDK session store as an omnisession store."""

    capabilities = CAPABILITIES
    #: What the source reads, for messages (``"SQLiteSession file chat.db"``).
    describe: str = "OpenAI SDK session store"

    def __init__(self, mapping: KeyMapping) -> None:
        self.mapping = mapping

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe}, app={self.mapping.app!r})"

    # -- what a source implements ----------------------------------------------------

    async def _head(self, session_id: str) -> SessionRow | None:
        """The session's times, or ``None`` if the store has no such session."""
        raise self._missing("_head")

    async def _rows(
        self,
        session_id: str,
        after: int | None,
        before: int | None,
        limit: int | None,
        newest: bool,
        since: float | None,
    ) -> list[Row]:
        """Items with ``after < seq < before`` (and time ``>= since``), oldest first:
        the ``limit`` oldest, or the ``limit`` newest when ``newest``; all when ``None``."""
        raise self._missing("_rows")

    async def _session_page(
        self, only: str | None, cursor: str | None, limit: int
    ) -> tuple[list[SessionRow], str | None]:
        """One page of sessions (only session ``only`` when given), oldest update first,
        and the cursor of the next page."""
        raise self._missing("_session_page")

    async def _any_session(self) -> bool:
        """Whether the store holds any session."""
        raise self._missing("_any_session")

    # -- reads -----------------------------------------------------------------------

    def _record(self, key: SessionKey, row: SessionRow, events: list[Event]) -> SessionRecord:
        return SessionRecord(
            key=key,
            state={},
            events=events,
            created_at=row.created_at,
            updated_at=row.updated_at,
            revision=0,
            base_state={},
        )

    async def _get_session(
        self, key: SessionKey, last: int | None, since: float | None
    ) -> SessionRecord | None:
        session_id = self.mapping.session_id(key)
        if session_id is None:
            return None
        head = await self._head(session_id)
        if head is None:
            return None
        events = [] if last == 0 else await self._events(session_id, None, None, last, True, since)
        return self._record(key, head, events)

    async def _get_events(
        self,
        key: SessionKey,
        after: int | None,
        before: int | None,
        limit: int,
        oldest_first: bool,
    ) -> list[Event]:
        session_id = self.mapping.session_id(key)
        if session_id is None:
            return []
        return await self._events(session_id, after, before, limit, not oldest_first, None)

    async def _get_items(self, key: SessionKey, limit: int | None) -> list[JSONObject]:
        session_id = self.mapping.session_id(key)
        if session_id is None:
            return []
        return [event.data for event in await self._events(session_id, None, None, limit, True)]

    async def _events(
        self,
        session_id: str,
        after: int | None,
        before: int | None,
        limit: int | None,
        newest: bool,
        since: float | None = None,
    ) -> list[Event]:
        """Decoded events; a row the SDK would skip (not a JSON object) is skipped, and
        the window widened so a page still holds ``limit`` events where there are more."""
        found: list[Event] = []
        while True:
            wanted = None if limit is None else limit - len(found)
            rows = await self._rows(session_id, after, before, wanted, newest, since)
            for row in rows:
                event = _decode(session_id, row)
                if event is not None:
                    found.append(event)
            if limit is None or wanted is None or len(rows) < wanted or len(found) >= limit:
                break  # the window held every row there is, or enough events
            if newest:
                before = rows[0].seq
            else:
                after = rows[-1].seq
        found.sort(key=lambda event: event.seq)
        return found

    async def _list_sessions(
        self, app_name: str, user_id: str | None, page_size: int, cursor: str | None
    ) -> Page:
        matches, only = self.mapping.listing(app_name, user_id)
        if not matches:
            return Page([])
        rows, next_cursor = await self._session_page(only, cursor, page_size)
        records = []
        for row in rows:
            try:
                key = self.mapping.key(row.session_id)
            except InvalidKey as exc:
                logger.warning("skipping SDK session %r: %s", row.session_id, exc)
                continue
            records.append(self._record(key, row, []))
        return Page(records, next_cursor)

    async def _get_user_state(self, app_name: str, user_id: str) -> JSONObject:
        return {}

    async def _get_app_state(self, app_name: str) -> JSONObject:
        return {}

    async def _list_apps(self) -> list[str]:
        return [self.mapping.app] if await self._any_session() else []

    # -- no writes ---------------------------------------------------------------------

    def _read_only(self) -> Unsupported:
        return Unsupported(
            f"{self.describe} is a read-only source: omnisession reads the OpenAI SDK's own "
            "store to move off it. Copy it to a store you write to with "
            "`omnisession copy SOURCE TARGET`, then use OmniSession on the target"
        )

    async def _write(self, write: Write) -> Committed:
        raise self._read_only()

    async def _delete_session(self, key: SessionKey) -> None:
        raise self._read_only()

    async def _pop_item(self, key: SessionKey) -> JSONObject | None:
        raise self._read_only()

    async def _delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        raise self._read_only()

    async def _erase(self, app_name: str, user_id: str | None) -> int:
        raise self._read_only()

    async def _update_scope(self, app_name: str, user_id: str | None, values: JSONObject) -> None:
        raise self._read_only()


def _decode(session_id: str, row: Row) -> Event | None:
    try:
        data = _json.loads(row.text)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        logger.warning(
            "skipping item %s of SDK session %r: not a JSON object (the SDK skips it too)",
            row.seq,
            session_id,
        )
        return None
    return Event(row.seq, row.timestamp, data)


def check_table_name(name: str, option: str, backend: str) -> str:
    """A table name option: non-empty, no NUL (it is quoted, so anything else is fine)."""
    if not name or "\x00" in name:
        raise InvalidOption(f"{backend} option {option} must be a table name, got {name!r}")
    return name
