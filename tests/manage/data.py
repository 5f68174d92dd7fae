"""A store full of what an export must carry, and a way to compare two stores."""

from __future__ import annotations

from typing import Any

from omnisession import SessionKey, SessionStore
from omnisession.manage.transfer import iter_session_keys

APPS = ("support", "sales app/β")


def deep(levels: int) -> dict[str, Any]:
    """A payload nested ``levels`` deep (the format must splice it, not nest it again)."""
    value: Any = 1
    for _ in range(levels - 1):
        value = [value]
    return {"deep": value}


async def populate(store: Any, *, sessions_per_user: int = 2, events: int = 3) -> None:
    """Two apps, three users, sessions with events, state in every scope, gaps and oddities."""
    await store.update_app_state("support", {"tier": "gold", "limits": {"daily": 5}})
    for user in ("ada", "bob", "c:d/e {f}"):
        for index in range(sessions_per_user):
            key = SessionKey("support", user, f"thread-{index}")
            await store.create_session(key, {"topic": "start", "user:lang": "en"})
            for seq in range(events):
                await store.append_event(
                    key,
                    {"author": "user", "text": f"message {seq} from {user}", "n": 2**70},
                    state_delta={"topic": f"t{seq}", "app:hits": seq, "user:seen": seq},
                    timestamp=1_700_000_000.0 + seq + index / 10,
                )
            await store.update_state(key, {"after": "last event"})
    odd = SessionKey("sales app/β", "ümlaut", "emoji 🦜 {x}")
    await store.create_session(odd)
    await store.append_event(odd, deep(100), timestamp=1_700_000_100.5)
    await store.append_event(odd, {"text": "to be popped"})
    await store.pop_item(odd)  # a gap in the sequence numbers
    await store.append_event(odd, {"text": "after the gap \ud83d"}, state_delta={"x": None})
    await store.create_session(SessionKey("sales app/β", "ümlaut", "empty"), {"k": [1, 2]})


async def snapshot(store: SessionStore, apps: tuple[str, ...] = APPS) -> dict[str, Any]:
    """Everything a copy must preserve, comparable across engines (revision excluded)."""
    result: dict[str, Any] = {}
    for app in apps:
        sessions = {}
        async for key in iter_session_keys(store, app, None):
            record = await store.get_session(key)
            assert record is not None
            sessions[(key.user_id, key.session_id)] = {
                "state": record.state,
                "base_state": record.base_state,
                "created_at": record.created_at,
                "updated_at": record.updated_at,
                "events": [
                    (event.seq, event.timestamp, event.data, event.state_delta)
                    for event in record.events
                ],
                "user_state": await store.get_user_state(app, key.user_id),
            }
        result[app] = {"app_state": await store.get_app_state(app), "sessions": sessions}
    return result


async def revisions(store: SessionStore, apps: tuple[str, ...] = APPS) -> dict[Any, int]:
    """Each session's revision: unchanged revisions mean nothing was written."""
    found = {}
    for app in apps:
        async for key in iter_session_keys(store, app, None):
            record = await store.get_session(key, last=0)
            assert record is not None
            found[key] = record.revision
    return found
