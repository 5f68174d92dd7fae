"""Compaction through the SDK's EncryptedSession wrapping an OmniSession, on every target.

Both ways the SDK composes them: the compaction wrapper outside the
encryption (``OpenAIResponsesCompactionSession(EncryptedSession(omni))``) and
inside it (``EncryptedSession(OpenAIResponsesCompactionSession(omni))``).
What we promise: the store only ever holds envelopes; automatic compaction
over a history window happens and is atomic; and the expired envelopes at
the start of the history are removed in the same write, as the SDK's own
SQLite stores do, whenever that does not mean rewriting more than one window
of the items between them and the compacted part.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from omnisession import BackendUnavailable, Capability
from omnisession.openai_agents import OmniSession

from .conftest import ScriptedCompaction, StoreProxy
from .test_compaction import EVERYTHING, SUMMARY, compacting, conversation, texts, turn

pytest.importorskip("cryptography")

from agents.extensions.memory.encrypt_session import EncryptedSession

pytestmark = [pytest.mark.asyncio, pytest.mark.needs(Capability.REPLACE)]

KEY = "a-test-key-for-the-encrypted-session"
TTL = 60


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The time Fernet and EncryptedSession see (and only they): set it, no sleeping."""
    import agents.extensions.memory.encrypt_session as encrypt_session
    import cryptography.fernet as fernet

    now = [1_700_000_000.0]
    fake = SimpleNamespace(time=lambda: now[0])
    monkeypatch.setattr(fernet, "time", fake)
    monkeypatch.setattr(encrypt_session, "time", fake)
    return now


def layered(omni: OmniSession, client: ScriptedCompaction, layout: str) -> Any:
    if layout == "compaction-outside":
        return compacting(EncryptedSession("thread", cast(Any, omni), KEY, ttl=TTL), client)
    return EncryptedSession("thread", cast(Any, compacting(omni, client)), KEY, ttl=TTL)


LAYOUTS = pytest.mark.parametrize("layout", ["compaction-outside", "compaction-inside"])


def envelopes(items: list[Any]) -> bool:
    return all(set(item) == {"__enc__", "v", "kid", "payload"} for item in items)


async def readable(omni: OmniSession) -> list[str]:
    """The history as the encrypted session shows it (expired envelopes skipped)."""
    session = EncryptedSession("thread", cast(Any, omni), KEY, ttl=TTL)
    return texts(await session.get_items(EVERYTHING))


@LAYOUTS
async def test_encrypted_window_is_compacted_and_the_store_only_holds_envelopes(
    target_store: Any, layout: str, clock: list[float]
) -> None:
    omni = OmniSession("thread", target_store, session_settings={"limit": 4})
    client = ScriptedCompaction([SUMMARY])
    session = layered(omni, client, layout)
    await session.add_items(conversation(6))

    await turn(session)

    [request] = client.requests
    assert texts(request["input"]) == ["q4", "a4", "q5", "a5", "continue", "done"]
    raw = await omni.get_items(EVERYTHING)
    assert envelopes(raw)
    assert "continue" not in str(raw) and "summary-of-the-suffix" not in str(raw)
    assert await readable(omni) == [*texts(conversation(4)), "compaction"]


@LAYOUTS
async def test_expired_envelopes_just_before_the_compacted_part_are_reclaimed(
    target_store: Any, layout: str, clock: list[float]
) -> None:
    omni = OmniSession("thread", target_store, session_settings={"limit": 4})
    session = layered(omni, ScriptedCompaction([SUMMARY]), layout)
    await session.add_items([{"role": "user", "content": "expired"}] * 5)
    clock[0] += TTL + 1
    await session.add_items(conversation(2))

    await turn(session)

    # Nothing older than the compacted part is left: the five expired envelopes went
    # in the same write.
    raw = await omni.get_items(EVERYTHING)
    assert len(raw) == 1 and envelopes(raw)
    assert await readable(omni) == ["compaction"]


@LAYOUTS
async def test_expired_envelopes_are_reclaimed_and_the_live_items_after_them_kept(
    target_store: Any, layout: str, clock: list[float]
) -> None:
    omni = OmniSession("thread", target_store, session_settings={"limit": 4})
    session = layered(omni, ScriptedCompaction([SUMMARY]), layout)
    await session.add_items([{"role": "user", "content": "expired"}] * 5)
    clock[0] += TTL + 1
    await session.add_items(conversation(3))
    live_before = (await omni.get_items(EVERYTHING))[5:7]

    await turn(session)

    raw = await omni.get_items(EVERYTHING)
    # The two live items outside the model's window stay, byte for byte (their own
    # encryption time, so their own expiry); the expired ones are gone.
    assert raw[:2] == live_before
    assert len(raw) == 3
    assert await readable(omni) == ["q0", "a0", "compaction"]


@LAYOUTS
async def test_expired_envelopes_stay_when_reclaiming_them_would_rewrite_a_long_history(
    target_store: Any, layout: str, clock: list[float]
) -> None:
    omni = OmniSession("thread", target_store, session_settings={"limit": 4})
    session = layered(omni, ScriptedCompaction([SUMMARY]), layout)
    await session.add_items([{"role": "user", "content": "expired"}] * 5)
    clock[0] += TTL + 1
    await session.add_items(conversation(10))

    await turn(session)

    raw = await omni.get_items(EVERYTHING)
    # 16 live items lie between the expired ones and the compacted part: more than
    # one window (7), so only the compacted part is replaced.
    assert len(raw) == 5 + 16 + 1
    assert await readable(omni) == [*texts(conversation(8)), "compaction"]


@LAYOUTS
async def test_a_failed_encrypted_replacement_keeps_every_envelope_as_it_was(
    target_store: Any, layout: str, clock: list[float]
) -> None:
    proxy = StoreProxy(target_store, fail={"replace_events": BackendUnavailable("(simulated)")})
    omni = OmniSession("thread", proxy, session_settings={"limit": 4})
    session = layered(omni, ScriptedCompaction([SUMMARY]), layout)
    await session.add_items(conversation(6))
    before = await omni.get_items(EVERYTHING)

    with pytest.raises(BackendUnavailable, match="simulated"):
        await turn(session)

    after = await omni.get_items(EVERYTHING)
    assert after[: len(before)] == before
    assert len(after) == len(before) + 2 and envelopes(after)
    assert await readable(omni) == [*texts(conversation(6)), "continue", "done"]
