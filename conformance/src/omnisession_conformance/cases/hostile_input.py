"""Hostile input: the same project error on every backend, before any I/O, nothing written.

The ranges are those of :mod:`omnisession.checks`: counts and seqs ``0 ..
2**63-1``, page sizes ``1 .. 10,000``, timestamps within years 1 .. 9999,
``since`` of any number, typed cursors; ids of 1 .. 1024 characters, valid
unicode, without NUL; payloads of JSON at most 100 levels deep.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from types import FrameType
from typing import Any

import pytest
from omnisession import InvalidEntry, InvalidKey, SessionKey, SessionStore
from omnisession.checks import MAX_COUNT, MAX_TIMESTAMP, MIN_TIMESTAMP

from ..harness import ConformanceBase, case
from ._support import BASE, LIFECYCLE, REPLACE, lifecycle, loaded, nested

_CHECKS = (
    "omnisession.checks runs these checks in core before any hook is called; a backend "
    "that overrides a public method must call the same check first"
)
BAD_IDS: list[Any] = ["", "a\x00b", "\ud800", "lone \udfff low", "x" * 1025, 5, b"bytes"]


def _cursor(parts: str) -> str:
    """A cursor whose JSON text is ``parts`` (what a forger would send)."""
    return base64.urlsafe_b64encode(parts.encode()).decode().rstrip("=")


#: How deep the stack is when a case reads back a payload at the nesting limit:
#: far deeper than an agent runner or a web handler calls from, and still 400
#: frames under the interpreter's default limit of 1,000 for the backend's own
#: calls and the decoder.
DEEP_STACK = 600


def _stack_depth() -> int:
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


async def _deep_call(call: Any, depth: int | None = None) -> Any:
    """Await ``call()`` with the stack :data:`DEEP_STACK` frames deep (a deep caller's)."""
    if depth is None:
        depth = DEEP_STACK - _stack_depth()
    if depth <= 0:
        return await call()
    return await _deep_call(call, depth - 1)


class HostileInputCases(ConformanceBase):
    """Numbers out of range, forged cursors, bad ids, deep nesting, lone surrogates."""

    async def _snapshot(self, store: SessionStore, key: SessionKey) -> Any:
        record = await loaded(store, key)
        return (record.revision, record.state, [(e.seq, e.data) for e in record.events])

    @case(BASE, hint=_CHECKS + " (check_last / check_limit / check_page_size)")
    async def out_of_range_counts_are_refused(self, store: SessionStore) -> None:
        """Counts at or over 2**63, negative or of the wrong type: ValueError/TypeError."""
        key = self.key()
        await store.add_items(key, [{"i": 0}, {"i": 1}])
        before = await self._snapshot(store, key)
        for value in (2**63, 2**64, 10**100, -1):
            with pytest.raises(ValueError):
                await store.get_session(key, last=value)
            with pytest.raises(ValueError):
                await store.get_items(key, limit=value)
        for wrong in (True, 1.0, "3"):
            with pytest.raises(TypeError):
                await store.get_session(key, last=wrong)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                await store.get_items(key, limit=wrong)  # type: ignore[arg-type]
        for size in (0, -1, 10_001, 2**63):
            with pytest.raises(ValueError):
                await store.list_sessions(self.app_name, page_size=size)
            with pytest.raises(ValueError):
                await store.get_events(key, page_size=size)
        for revision in (2**63, -(2**63) - 1):
            with pytest.raises(ValueError):
                await store.append_event(key, {"i": 9}, expected_revision=revision)
        with pytest.raises(TypeError):
            await store.update_state(key, {"s": 1}, expected_revision="1")  # type: ignore[arg-type]
        assert await self._snapshot(store, key) == before
        whole = await store.get_session(key, last=MAX_COUNT)
        assert whole is not None and len(whole.events) == 2, "last=2**63-1 is all of it"
        assert await store.get_items(key, limit=MAX_COUNT) == [{"i": 0}, {"i": 1}]

    @case(BASE, hint=_CHECKS + " (check_timestamp); store timestamps as a float or a wide type")
    async def timestamps_out_of_range_are_refused(self, store: SessionStore) -> None:
        """Timestamps outside years 1..9999, infinite or NaN are refused; the ends round-trip."""
        key = self.key()
        await store.create_session(key)
        before = await self._snapshot(store, key)
        for stamp in (2**1100, -(2**1100), 1e300, math.inf, -math.inf, math.nan, MAX_TIMESTAMP + 1):
            with pytest.raises(ValueError):
                await store.append_event(key, {"i": 1}, timestamp=stamp)
        for wrong in (True, "1"):
            with pytest.raises(TypeError):
                await store.append_event(key, {"i": 1}, timestamp=wrong)  # type: ignore[arg-type]
        assert await self._snapshot(store, key) == before
        await store.append_event(key, {"end": "max"}, timestamp=MAX_TIMESTAMP)
        await store.append_event(key, {"end": "min"}, timestamp=MIN_TIMESTAMP)
        record = await loaded(store, key)
        assert [e.timestamp for e in record.events] == [MAX_TIMESTAMP, MIN_TIMESTAMP]
        assert record.updated_at == MIN_TIMESTAMP

    @case(BASE, hint="core's check_since maps any number to a bound or to 'matches nothing'")
    async def since_of_any_number_is_accepted(self, store: SessionStore) -> None:
        """since of any size, infinite or NaN selects all events or none, never an error."""
        key = self.key()
        await store.create_session(key)
        for stamp in (100.0, 200.0):
            await store.append_event(key, {"t": stamp}, timestamp=stamp)
        expectations: list[tuple[Any, int]] = [
            (2**1100, 0),
            (10**400, 0),
            (math.inf, 0),
            (math.nan, 0),
            (-(2**1100), 2),
            (-math.inf, 2),
            (-1e300, 2),
            (150, 1),
        ]
        for since, count in expectations:
            record = await store.get_session(key, since=since)
            assert record is not None and len(record.events) == count, (since, record)
        with pytest.raises(TypeError):
            await store.get_session(key, since="100")  # type: ignore[arg-type]

    @case(BASE, hint="decode cursors with omnisession.checks.decode_cursor and the part types")
    async def forged_cursors_are_refused(self, store: SessionStore) -> None:
        """Cursors that are not ours, or carry numbers out of range, raise ValueError."""
        key = self.key()
        await store.add_items(key, [{"i": i} for i in range(3)])
        for forged in (
            "%%%",
            _cursor('[1e400, "u", "s"]'),
            _cursor("[" + "9" * 400 + ', "u", "s"]'),
            _cursor("[1.0, 2, 3]"),
            _cursor("{}"),
        ):
            with pytest.raises(ValueError):
                await store.list_sessions(self.app_name, cursor=forged)
        for forged in (
            _cursor(json.dumps(["before", 2**63])),
            _cursor(json.dumps(["before", -(2**63) - 1])),
            _cursor(json.dumps(["before", 1.5])),
            _cursor(json.dumps(["sideways", 2])),
        ):
            with pytest.raises(ValueError):
                await store.get_events(key, cursor=forged)

    @case(BASE, hint="omnisession.model.check_id is the one id check, for keys and scope ids")
    async def bad_ids_are_refused_everywhere(self, store: SessionStore) -> None:
        """Empty, NUL, lone-surrogate, 1025-char and non-str ids raise InvalidKey everywhere."""
        app = self.app_name
        for bad in BAD_IDS:
            for parts in ((bad, "u", "s"), (app, bad, "s"), (app, "u", bad)):
                with pytest.raises(InvalidKey):
                    SessionKey(*parts)
            with pytest.raises(InvalidKey):
                await store.list_sessions(bad)
            with pytest.raises(InvalidKey):
                await store.list_sessions(app, bad)
            with pytest.raises(InvalidKey):
                await store.get_user_state(bad, "u")
            with pytest.raises(InvalidKey):
                await store.get_user_state(app, bad)
            with pytest.raises(InvalidKey):
                await store.get_app_state(bad)
            if LIFECYCLE in store.capabilities:
                managed = lifecycle(store)
                with pytest.raises(InvalidKey):
                    await managed.erase_user(app, bad)
                with pytest.raises(InvalidKey):
                    await managed.erase_app(bad)
                with pytest.raises(InvalidKey):
                    await managed.purge_sessions(bad, 1.0)
                with pytest.raises(InvalidKey):
                    await managed.update_app_state(bad, {"k": 1})
                with pytest.raises(InvalidKey):
                    await managed.update_user_state(app, bad, {"k": 1})
        assert (await store.list_sessions(app)).sessions == []
        assert await store.get_app_state(app) == {}

    @case(
        BASE,
        hint="ids of up to 1024 characters of any plane must fit the backend's keys (hash or "
        "escape them if the engine's key size is smaller)",
    )
    async def longest_ids_round_trip(self, store: SessionStore) -> None:
        """Ids of 1024 characters, ASCII or 4-byte UTF-8, work in every position."""
        for index, char in enumerate(("a", "🙂")):
            app = self.app(f"-{index}")
            long_app = app + char * (1024 - len(app))
            self._used_apps().add(long_app)
            key = SessionKey(long_app, char * 1024, char * 1023 + "s")
            await store.create_session(key, {"user:u": index, "app:a": index})
            await store.append_event(key, {"i": index})
            record = await loaded(store, key)
            assert record.key == key and record.events[0].data == {"i": index}
            listed = await store.list_sessions(long_app, char * 1024)
            assert [r.key for r in listed.sessions] == [key]
            assert await store.get_user_state(long_app, char * 1024) == {"u": index}
            assert await store.get_app_state(long_app) == {"a": index}

    @case(
        BASE,
        hint="core's dumps escapes lone surrogates (\\udxxx); store that text as is and "
        "never re-encode it with errors='surrogatepass' or similar",
    )
    async def lone_surrogates_round_trip_in_payloads_and_state(self, store: SessionStore) -> None:
        """Half an emoji in a payload, a state key or a state value round-trips exactly."""
        key = self.key()
        half = "cut \ud83d"
        payload = {"text": half, "\udc00key": ["\udfff", {"deep": half}]}
        state = {"s": half, "\ud800k": 1, "user:u": half, "app:\udbff": half}
        await store.create_session(key, state)
        await store.append_event(key, payload, state_delta={"s2": half, "user:\udc01": 2})
        await store.add_items(key, [payload])
        record = await loaded(store, key)
        assert [e.data for e in record.events] == [payload, payload]
        assert record.events[0].state_delta == {"s2": half, "user:\udc01": 2}
        assert record.state == {**state, "s2": half, "user:\udc01": 2}
        assert await store.get_items(key) == [payload, payload]
        assert [e.data for e in (await store.get_events(key)).events] == [payload, payload]
        assert await store.get_user_state(key.app_name, key.user_id) == {"u": half, "\udc01": 2}
        assert await store.get_app_state(key.app_name) == {"\udbff": half}
        assert await store.pop_item(key) == payload

    @case(
        BASE,
        hint="core's dumps enforces MAX_DEPTH = 100 at write time; reads must not recurse "
        "more than the JSON decoder does (decode with omnisession.backend.loads)",
    )
    async def nesting_is_limited_at_write_time_and_reads_from_any_stack(
        self, store: SessionStore
    ) -> None:
        """100 levels are stored and read back from a deep stack; 101 raise InvalidEntry."""
        key = self.key()
        await store.create_session(key, {"s": 0})
        at_limit = {"v": nested(99)}  # the object itself is level 1
        over = {"v": nested(100)}
        await store.append_event(key, at_limit, state_delta={"deep": nested(99)})
        await store.add_items(key, [at_limit])
        before = await self._snapshot(store, key)
        writes: list[Any] = [
            lambda: store.append_event(key, over),
            lambda: store.append_event(key, {"ok": 1}, state_delta={"deep": nested(100)}),
            lambda: store.add_items(key, [{"ok": 1}, over]),
            lambda: store.update_state(key, {"deep": nested(100)}),
            lambda: store.create_session(self.key("other"), {"deep": nested(100)}),
        ]
        if REPLACE in store.capabilities:
            writes.append(
                lambda: lifecycle(store).replace_events(key, 0, [over], expected_revision=before[0])
            )
        for write in writes:
            with pytest.raises(InvalidEntry):
                await write()
        assert await self._snapshot(store, key) == before
        assert await store.get_session(self.key("other")) is None
        items = await _deep_call(lambda: store.get_items(key))
        assert items == [at_limit, at_limit]
        record = await _deep_call(lambda: store.get_session(key))
        assert record is not None and record.state["deep"] == nested(99)
        page = await _deep_call(lambda: store.get_events(key))
        assert [e.data for e in page.events] == [at_limit, at_limit]

    @case(BASE, hint="store payloads as JSON text; a native number type may not hold them")
    async def huge_numbers_and_odd_keys_round_trip_or_are_refused(
        self, store: SessionStore
    ) -> None:
        """Huge ints and extreme floats round-trip; a non-str key at any depth is refused."""
        key = self.key()
        payload = {
            "big": 2**1000,
            "neg": -(2**1000) + 1,
            "max": 1.7976931348623157e308,
            "tiny": 5e-324,
            "zero": -0.0,
            "": "empty key",
            "\x00nul key": "nul\x00value",
        }
        await store.add_items(key, [payload])
        got = (await store.get_items(key))[0]
        assert got == payload and type(got["big"]) is int and type(got["tiny"]) is float
        assert math.copysign(1.0, got["zero"]) == -1.0
        before = await self._snapshot(store, key)
        odd_keys: list[Any] = [{"a": {1: 2}}, {"a": [{"b": {None: 1}}]}, {"a": {(1, 2): 3}}]
        for bad in odd_keys:
            with pytest.raises(InvalidEntry):
                await store.add_items(key, [bad])
            with pytest.raises(InvalidEntry):
                await store.update_state(key, {"s": bad})
        assert await self._snapshot(store, key) == before

    @case(REPLACE, hint=_CHECKS + " (check_seq, check_expected_revision)")
    async def bad_replace_arguments_are_refused(self, store: SessionStore) -> None:
        """from_seq out of range, no or a bad expected_revision: refused, nothing written."""
        key = self.key()
        await store.add_items(key, [{"i": 0}])
        before = await self._snapshot(store, key)
        managed = lifecycle(store)
        for start in (-1, 2**63):
            with pytest.raises(ValueError):
                await managed.replace_events(key, start, [{"x": 1}], expected_revision=before[0])
        with pytest.raises(TypeError):
            await managed.replace_events(key, 0, [{"x": 1}], expected_revision=None)  # type: ignore[arg-type]
        with pytest.raises(InvalidEntry):
            await managed.replace_events(key, 0, {"x": 1}, expected_revision=before[0])  # type: ignore[arg-type]
        assert await self._snapshot(store, key) == before

    @case(LIFECYCLE, hint=_CHECKS + " (check_seq, check_timestamp, check_page_size)")
    async def bad_lifecycle_arguments_are_refused(self, store: SessionStore) -> None:
        """Bad fork, purge and import arguments raise before anything is written or deleted."""
        key = self.key()
        await store.create_session(key)
        await store.append_event(key, {"i": 0}, timestamp=1000.0)
        managed = lifecycle(store)
        for up_to in (-1, 2**63):
            with pytest.raises(ValueError):
                await managed.fork_session(key, self.key("fork"), up_to=up_to)
        for cutoff in (math.inf, math.nan, 2**1100, -(2**1100)):
            with pytest.raises(ValueError):
                await managed.purge_sessions(self.app_name, cutoff)
        with pytest.raises(TypeError):
            await managed.purge_sessions(self.app_name, "2000")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await managed.purge_sessions(self.app_name, 2000.0, batch_size=0)
        with pytest.raises(ValueError):
            await managed.import_session(
                self.key("imported"), [], state={}, created_at=2**1100, updated_at=1.0
            )
        assert await store.get_session(self.key("fork")) is None
        assert await store.get_session(self.key("imported")) is None
        assert await store.get_session(key) is not None
