"""Apps and shared scopes: ``list_apps``, ``update_app_state``, ``update_user_state``."""

from __future__ import annotations

import math
from typing import Any

import pytest
from omnisession import InvalidEntry, SessionStore

from ..harness import ConformanceBase, case
from ._support import LIFECYCLE, lifecycle, loaded

_SCOPE = "look at _update_scope(app_name, user_id, values): a merge into ONE scope"


class ScopeCases(ConformanceBase):
    """App listing and direct writes to the app and user scopes."""

    @case(LIFECYCLE, hint="look at _list_apps: apps with sessions, app state or user state")
    async def list_apps_lists_every_app_with_data(self, store: SessionStore) -> None:
        """list_apps names apps with sessions, with app state only and with user state only."""
        with_session, app_only, user_only = self.app("-a"), self.app("-b"), self.app("-c")
        await store.create_session(self.key(app_name=with_session))
        await lifecycle(store).update_app_state(app_only, {"k": 1})
        await lifecycle(store).update_user_state(user_only, "u", {"k": 1})
        apps = await lifecycle(store).list_apps()
        assert apps == sorted(apps), "list_apps must be sorted"
        assert {with_session, app_only, user_only} <= set(apps), apps
        assert self.app("-never") not in apps
        await lifecycle(store).erase_app(app_only)
        assert app_only not in await lifecycle(store).list_apps()

    @case(LIFECYCLE, hint=_SCOPE + "; the merged view of get_session shows it prefixed")
    async def update_app_and_user_state_merge_into_the_scopes(self, store: SessionStore) -> None:
        """update_app_state / update_user_state merge un-prefixed keys into their scope."""
        key = self.key()
        await store.create_session(key, {"s": 1, "app:old": 0, "user:old": 0})
        await lifecycle(store).update_app_state(key.app_name, {"a": 1, "none": None})
        await lifecycle(store).update_user_state(key.app_name, key.user_id, {"u": [1, {"x": 2}]})
        await lifecycle(store).update_app_state(key.app_name, {"a": 2})
        assert await store.get_app_state(key.app_name) == {"old": 0, "a": 2, "none": None}
        assert await store.get_user_state(key.app_name, key.user_id) == {
            "old": 0,
            "u": [1, {"x": 2}],
        }
        assert await store.get_user_state(key.app_name, "someone-else") == {}
        record = await loaded(store, key)
        assert record.state == {
            "s": 1,
            "app:old": 0,
            "app:a": 2,
            "app:none": None,
            "user:old": 0,
            "user:u": [1, {"x": 2}],
        }

    @case(LIFECYCLE, hint="core checks scope values before any I/O (InvalidEntry)")
    async def bad_scope_values_are_rejected_and_nothing_written(self, store: SessionStore) -> None:
        """A non-JSON value or a non-str key in a scope update: InvalidEntry, nothing written."""
        app = self.app()
        bad: list[Any] = [{"ok": 1, "v": {1, 2}}, {"ok": 1, "v": math.nan}, {1: "int key"}]
        for delta in bad:
            with pytest.raises(InvalidEntry):
                await lifecycle(store).update_app_state(app, delta)
            with pytest.raises(InvalidEntry):
                await lifecycle(store).update_user_state(app, "u", delta)
        assert await store.get_app_state(app) == {}
        assert await store.get_user_state(app, "u") == {}
        assert app not in await lifecycle(store).list_apps()
