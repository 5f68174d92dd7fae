"""Keys never collide, whatever characters ids contain."""

from __future__ import annotations

import pytest
from omnisession import (
    InvalidKey,
    SessionKey,
    SessionStore,
)

from ..harness import ConformanceBase, case
from ._support import BASE, HOSTILE_IDS


class IsolationCases(ConformanceBase):
    """Keys never collide, whatever characters ids contain."""

    @case(
        BASE,
        hint=(
            "escape or length-prefix ids in the engine's keys: ('a:b','c') and ('a','b:c') must "
            "stay distinct"
        ),
    )
    async def hostile_ids_do_not_collide(self, store: SessionStore) -> None:
        """Ids with separators, braces, escapes and unicode stay distinct."""
        keys = [self.key(ident, ident) for ident in HOSTILE_IDS]
        keys += [
            self.key("c", "a:b"),
            self.key("b:c", "a"),
            self.key("c", "b", app_name=self.app(":a")),
            self.key("x", "a/b"),
            self.key("b/x", "a"),
        ]
        assert len(set(keys)) == len(keys)
        for index, key in enumerate(keys):
            await store.add_items(key, [{"owner": index}])
            await store.append_event(
                key, {"owner": index}, state_delta={"user:owner": index, "s": index}
            )
        for index, key in enumerate(keys):
            assert await store.get_items(key) == [{"owner": index}, {"owner": index}], key
            record = await store.get_session(key)
            assert record is not None and record.state["s"] == index, key
        # user scope: ("app", "a:b") vs ("app:a", "b") and friends
        pairs = [(self.app(), "a:b"), (self.app(":a"), "b")]
        for app, user in pairs:
            await store.create_session(
                self.key("scope", user, app_name=app), {"user:who": f"{app}|{user}"}
            )
        for app, user in pairs:
            assert (await store.get_user_state(app, user)).get("who") == f"{app}|{user}"
        listed = await store.list_sessions(self.app_name, "a")
        assert {r.key.session_id for r in listed.sessions} == {"b:c", "b/x"}

    @case(
        BASE,
        hint=("omnisession.model.check_id, the one id check"),
    )
    async def empty_ids_are_rejected(self, store: SessionStore) -> None:
        """Empty ids raise InvalidKey wherever an id is taken."""
        for parts in [("", "u", "s"), ("a", "", "s"), ("a", "u", "")]:
            with pytest.raises(InvalidKey):
                SessionKey(*parts)
        with pytest.raises(InvalidKey):
            await store.list_sessions("")
        with pytest.raises(InvalidKey):
            await store.get_user_state(self.app_name, "")
        with pytest.raises(InvalidKey):
            await store.get_app_state("")
