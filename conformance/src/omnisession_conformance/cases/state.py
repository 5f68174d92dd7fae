"""State scopes: app:, user:, temp: and the session's own keys."""

from __future__ import annotations

import pytest
from omnisession import (
    SessionNotFound,
    SessionStore,
    StaleSession,
)

from ..harness import ConformanceBase, case
from ._support import BASE


class StateCases(ConformanceBase):
    """State scopes: app:, user:, temp: and the session's own keys."""

    @case(
        BASE,
        hint=(
            "look at _write: delta.app goes to the app scope, delta.user to the (app, user) "
            "scope, shared by sessions"
        ),
    )
    async def state_scopes_shared_across_sessions_and_users(self, store: SessionStore) -> None:
        """app: is shared by the app, user: by the user's sessions, plain keys by one session."""
        a1, a2 = self.key("s1", "alice"), self.key("s2", "alice")
        b1 = self.key("s1", "bob")
        for key in (a1, a2, b1):
            await store.create_session(key)
        await store.append_event(
            a1, {"i": 1}, state_delta={"app:theme": "dark", "user:name": "Alice", "topic": "x"}
        )
        s_a2 = await store.get_session(a2)
        s_b1 = await store.get_session(b1)
        assert s_a2 is not None and s_b1 is not None
        assert s_a2.state == {"app:theme": "dark", "user:name": "Alice"}
        assert s_b1.state == {"app:theme": "dark"}
        assert await store.get_user_state(a1.app_name, "alice") == {"name": "Alice"}
        assert await store.get_user_state(a1.app_name, "bob") == {}
        assert await store.get_app_state(a1.app_name) == {"theme": "dark"}
        other_app = self.key("s1", "alice", app_name=self.app("-other"))
        assert (await store.create_session(other_app)).state == {}

    @case(
        BASE,
        hint=("core drops temp: keys (split_state); a backend must not store its own copy"),
    )
    async def temp_state_is_never_stored(self, store: SessionStore) -> None:
        """temp: keys are dropped by create_session, append_event and update_state."""
        key = self.key()
        await store.create_session(key, {"temp:a": 1, "keep": 1})
        await store.append_event(key, {"i": 1}, state_delta={"temp:b": 2, "app:temp:c": 3})
        await store.update_state(key, {"temp:d": 4})
        record = await store.get_session(key)
        assert record is not None
        assert record.state == {"keep": 1, "app:temp:c": 3}

    @case(
        BASE,
        hint=("a None value is a stored null, never a deletion of the key"),
    )
    async def none_state_value_is_stored_as_none(self, store: SessionStore) -> None:
        """A None value is stored as None, not treated as a deletion."""
        key = self.key()
        await store.create_session(key, {"a": 1, "user:b": 2})
        await store.append_event(key, {"i": 1}, state_delta={"a": None, "user:b": None})
        record = await store.get_session(key)
        assert record is not None and record.state == {"a": None, "user:b": None}

    @case(
        BASE,
        hint=("store state values as JSON text, not as the engine's native types"),
    )
    async def state_values_round_trip_as_json(self, store: SessionStore) -> None:
        """State values of every JSON type come back exactly."""
        key = self.key()
        value = {"n": [1, 2.5, None, True, 2**70], "s": "ü🙂"}
        await store.create_session(key, {"v": value, "user:v": value, "app:v": value})
        record = await store.get_session(key)
        assert record is not None
        assert record.state == {"v": value, "user:v": value, "app:v": value}

    @case(
        BASE,
        hint=(
            "look at _write with a delta and no events; SessionNotFound / StaleSession as for "
            "appends"
        ),
    )
    async def update_state_writes_scopes_without_an_event(self, store: SessionStore) -> None:
        """update_state applies every scope atomically, adds no event and bumps the revision."""
        key = self.key()
        created = await store.create_session(key, {"a": 1})
        revision = await store.update_state(key, {"a": 2, "user:u": 1, "app:p": 1, "temp:t": 0})
        record = await store.get_session(key)
        assert record is not None
        assert record.events == []
        assert record.state == {"a": 2, "user:u": 1, "app:p": 1}
        assert revision == record.revision > created.revision
        with pytest.raises(SessionNotFound):
            await store.update_state(self.key("ghost"), {"a": 1})
        with pytest.raises(StaleSession):
            await store.update_state(key, {"a": 3}, expected_revision=created.revision)
        assert (await store.get_session(key)).state["a"] == 2  # type: ignore[union-attr]
