"""Erasure: ``erase_user`` and ``erase_app`` (``Capability.LIFECYCLE``)."""

from __future__ import annotations

import asyncio
from typing import Any

from omnisession import AlreadyExists, SessionStore

from ..harness import ConformanceBase, case
from ._support import LIFECYCLE, lifecycle

_ERASE = "look at _erase(app_name, user_id): sessions, their events and the scope(s)"
_ORPHAN = (
    _ERASE + ". A create racing it must end either erased with its scope or kept whole: "
    "the create's scope write and the erase's scope delete need one order (a lock, a "
    "transaction, a script or a per-user marker)"
)


class EraseCases(ConformanceBase):
    """``erase_user`` / ``erase_app``: everything of a user or an app goes, nothing else."""

    async def _populate(self, store: SessionStore, app: str) -> None:
        for user in ("alice", "bob"):
            for sid in ("s1", "s2"):
                key = self.key(sid, user, app_name=app)
                await store.create_session(key, {"s": sid, "user:name": user, "app:v": 1})
                await store.append_event(key, {"who": user}, state_delta={"user:seen": True})

    @case(LIFECYCLE, hint=_ERASE)
    async def erase_user_deletes_everything_of_the_user(self, store: SessionStore) -> None:
        """erase_user removes the user's sessions, events and user: scope; others stay."""
        app, other_app = self.app(), self.app("-other")
        await self._populate(store, app)
        await self._populate(store, other_app)
        assert await lifecycle(store).erase_user(app, "alice") == 2
        for sid in ("s1", "s2"):
            gone = self.key(sid, "alice")
            assert await store.get_session(gone) is None
            assert await store.get_items(gone) == []
            assert (await store.get_session(self.key(sid, "bob"))) is not None
            kept = self.key(sid, "alice", app_name=other_app)
            assert await store.get_items(kept) == [{"who": "alice"}]
        assert await store.get_user_state(app, "alice") == {}
        assert (await store.list_sessions(app, "alice")).sessions == []
        assert await store.get_user_state(app, "bob") == {"name": "bob", "seen": True}
        assert await store.get_user_state(other_app, "alice") == {"name": "alice", "seen": True}
        assert await store.get_app_state(app) == {"v": 1}
        assert await lifecycle(store).erase_user(app, "alice") == 0, (
            "a second erase must be a no-op"
        )
        assert await lifecycle(store).erase_user(app, "nobody") == 0

    @case(LIFECYCLE, hint=_ERASE + "; a user scope may exist without any session")
    async def erase_user_deletes_a_scope_without_sessions(self, store: SessionStore) -> None:
        """A user with user: state but no session is erased too."""
        app = self.app()
        await lifecycle(store).update_user_state(app, "carol", {"k": 1})
        assert await lifecycle(store).erase_user(app, "carol") == 0
        assert await store.get_user_state(app, "carol") == {}

    @case(LIFECYCLE, hint=_ERASE + " with user_id None: the app scope and EVERY user scope")
    async def erase_app_deletes_everything_of_the_app(self, store: SessionStore) -> None:
        """erase_app removes every session, the app scope and all user scopes; others stay."""
        app, other_app = self.app(), self.app("-other")
        await self._populate(store, app)
        await self._populate(store, other_app)
        await lifecycle(store).update_user_state(app, "dave", {"only": "scope"})
        assert await lifecycle(store).erase_app(app) == 4
        assert (await store.list_sessions(app)).sessions == []
        for user in ("alice", "bob", "dave"):
            assert await store.get_user_state(app, user) == {}
            assert await store.get_items(self.key("s1", user)) == []
        assert await store.get_app_state(app) == {}
        assert app not in await lifecycle(store).list_apps()
        assert len((await store.list_sessions(other_app)).sessions) == 4
        assert await store.get_app_state(other_app) == {"v": 1}
        assert await store.get_user_state(other_app, "bob") == {"name": "bob", "seen": True}
        assert await lifecycle(store).erase_app(app) == 0, "a second erase must be a no-op"

    async def _erase_race(self, writers: list[SessionStore], erase_app: bool) -> None:
        app = self.app("-app" if erase_app else "-user")
        creates = 12
        scope = "app" if erase_app else "user"

        async def create(i: int) -> Any:
            store = writers[i % len(writers)]
            key = self.key(f"s{i:02d}", "racer", app_name=app)
            return await store.create_session(key, {f"{scope}:k{i}": i, "own": i})

        async def erase() -> int:
            if erase_app:
                return await lifecycle(writers[-1]).erase_app(app)
            return await lifecycle(writers[-1]).erase_user(app, "racer")

        jobs: list[Any] = [create(i) for i in range(creates)]
        jobs.insert(creates // 2, erase())
        results = await asyncio.gather(*jobs, return_exceptions=True)
        erased = results.pop(creates // 2)
        assert isinstance(erased, int), repr(erased)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not [f for f in failures if not isinstance(f, AlreadyExists)], failures
        reader = writers[0]
        if erase_app:
            values = await reader.get_app_state(app)
        else:
            values = await reader.get_user_state(app, "racer")
        for i in range(creates):
            record = await reader.get_session(self.key(f"s{i:02d}", "racer", app_name=app))
            has_scope = f"k{i}" in values
            if record is None:
                assert not has_scope, (
                    f"session s{i:02d} was erased but its {scope}: key k{i} survived: an "
                    "orphan scope"
                )
            else:
                assert has_scope, f"session s{i:02d} survived without its {scope}: key k{i}"
                assert record.state[f"{scope}:k{i}"] == i and record.state["own"] == i

    @case(LIFECYCLE, hint=_ORPHAN)
    async def erase_racing_creates_leaves_no_orphan_scope(self, store: SessionStore) -> None:
        """Creates racing erase_user / erase_app: each session is kept with its scope or gone."""
        await self._erase_race([store], erase_app=False)
        await self._erase_race([store], erase_app=True)

    @case(LIFECYCLE, second=True, hint=_ORPHAN + ", across connections")
    async def erase_racing_creates_across_instances(
        self, store: SessionStore, second: SessionStore
    ) -> None:
        """The same race through two instances on one engine."""
        await self._erase_race([store, second], erase_app=False)
        await self._erase_race([store, second], erase_app=True)
