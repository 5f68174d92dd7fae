"""What several topics share: hostile ids, a fidelity payload, small helpers."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from omnisession import Capability, SessionKey, SessionRecord, SessionStore
from omnisession.store import LifecycleStore

BASE = Capability.BASE
REPLACE = Capability.REPLACE
LIFECYCLE = Capability.LIFECYCLE
TTL = Capability.TTL
CLUSTER = Capability.CLUSTER

#: Ids that break naive key schemes: separators, hash tags, escapes, unicode.
HOSTILE_IDS = [
    "a:b",
    "a/b",
    "{a}",
    "a}b{",
    "%3A",
    "a%b",
    "with space",
    " leading",
    "üñíçødé-会话-🙂",
    "a\\b",
    "'quoted\"",
    "*",
    "?x=1&y=2",
    "line\nbreak",
    "..",
]

FIDELITY_PAYLOAD: dict[str, Any] = {
    "unicode": "héllo wörld — 你好 — 🙂 — \u200b",
    "escapes": 'quote" backslash\\ newline\n tab\t nul-free',
    "nested": {"a": [1, [2, [3, {"b": None}]]], "empty_list": [], "empty_obj": {}},
    "large_ints": [2**53 + 1, 2**63 - 1, -(2**63), 2**70, -(2**80)],
    "floats": [0.1, -0.0, 1e-300, 1.5e300, 3.141592653589793, 1.0],
    "bools": [True, False],
    "none": None,
    "keys with: colons/and {braces}": "ok",
}


def lifecycle(store: SessionStore) -> LifecycleStore:
    """``store`` as a :class:`LifecycleStore` (the case checked the capability)."""
    return cast(LifecycleStore, store)


def nested(depth: int, leaf: Any = 0) -> Any:
    """A list nested ``depth`` levels deep around ``leaf`` (``nested(1) == [0]``)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


async def loaded(store: SessionStore, key: SessionKey) -> SessionRecord:
    """``get_session(key)``, which must exist."""
    record = await store.get_session(key)
    assert record is not None, f"session {key} is missing"
    return record


async def revision_of(store: SessionStore, key: SessionKey) -> int:
    record = await store.get_session(key, last=0)
    assert record is not None, f"session {key} is missing"
    return record.revision


def session_scope(state: dict[str, Any]) -> dict[str, Any]:
    """The un-prefixed (session) keys of a merged state."""
    return {k: v for k, v in state.items() if not k.startswith(("app:", "user:"))}


def event_tuple(event: Any) -> tuple[int, float, Any, Any]:
    return (event.seq, event.timestamp, event.data, event.state_delta)


async def pop_many(store: SessionStore, key: SessionKey, count: int) -> list[tuple[str, int]]:
    """``count`` concurrent pops; the ``(t, i)`` of each item popped."""
    popped = await asyncio.gather(*(store.pop_item(key) for _ in range(count)))
    return [(item["t"], item["i"]) for item in popped if item is not None]


async def scopes_agree(suite: Any, writers: list[SessionStore]) -> None:
    """Concurrent appends each setting s, user:x and app:y to n: all three end equal to the
    n of the newest event, or two writes interleaved."""
    keys = [suite.key(f"s{i}") for i in range(3)]
    for key in keys:
        await writers[0].create_session(key)

    async def write(n: int) -> None:
        key = keys[n % len(keys)]
        store = writers[n % len(writers)]
        await store.append_event(key, {"n": n}, state_delta={"s": n, "user:x": n, "app:y": n})

    await asyncio.gather(*(write(n) for n in range(45)))
    newest: list[tuple[float, int]] = []
    for key in keys:
        record = await loaded(writers[0], key)
        last = record.events[-1].data["n"]
        assert record.state["s"] == last, (
            f"{key}: session state s={record.state['s']} but its newest event is n={last}"
        )
        newest.append((record.revision, last))
    user = await writers[0].get_user_state(suite.app_name, "u1")
    app = await writers[0].get_app_state(suite.app_name)
    assert user["x"] == app["y"], f"user:x={user['x']} and app:y={app['y']} were torn apart"
    assert user["x"] in {n for _, n in newest}, (
        f"user:x={user['x']} is not the newest write of any session"
    )
