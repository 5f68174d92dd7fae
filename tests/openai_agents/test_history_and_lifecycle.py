"""OmniSession beyond the Session protocol, on every target: close(), ping(), paging, fork.

- ``await session.close()`` means what ``aclose()`` means, so code written for
  the SDK's async sessions (RedisSession, AsyncSQLiteSession, ...) runs unchanged.
- a non-JSON item raises ``InvalidEntry``, also a ``TypeError`` as in the
  SDK's sessions, and nothing is written.
- ``ping()`` answers True while the store answers, False during an outage,
  and raises for a store that refuses (retrying would not help).
- ``get_items_page()`` pages through a long thread, newest page first or
  oldest first, each page oldest item first.
- ``fork()`` copies a thread, whole or up to an item, to a new thread that
  goes its own way.
"""

from __future__ import annotations

from typing import Any

import pytest
from agents import Agent, RunConfig, Runner
from agents.memory import SessionSettings
from agents.testing import ScriptedModel, assistant_message
from omnisession import (
    AlreadyExists,
    BackendRejected,
    BackendUnavailable,
    Capability,
    InvalidEntry,
    SessionNotFound,
    Unsupported,
)
from omnisession.openai_agents import OmniSession, SessionClosed

from ..targets import Target
from .conftest import StoreProxy
from .test_compaction import EVERYTHING, conversation, texts

pytestmark = pytest.mark.asyncio

RUN = RunConfig(tracing_disabled=True)


# -- close() and ping() -------------------------------------------------------------------


async def test_close_is_aclose_for_code_written_for_the_sdk_async_sessions(
    storage_target: Target, store_url: str
) -> None:
    session = OmniSession("thread", url=store_url, store_options=storage_target.options)
    try:
        await session.add_items(conversation(1))
    finally:
        await session.close()
    with pytest.raises(SessionClosed, match="OmniSession is closed"):
        await session.get_items()
    with pytest.raises(SessionClosed):
        await session.ping()
    await session.close()  # idempotent, like the SDK's
    await session.aclose()


async def test_close_leaves_a_shared_store_open(target_store: Any) -> None:
    first = OmniSession("thread", target_store)
    await first.add_items(conversation(1))
    await first.close()
    assert texts(await OmniSession("thread", target_store).get_items()) == ["q0", "a0"]


async def test_ping_is_true_while_the_store_answers_and_false_during_an_outage(
    target_store: Any,
) -> None:
    assert await OmniSession("thread", target_store).ping() is True
    down = StoreProxy(target_store, fail={"get_session": BackendUnavailable("down (simulated)")})
    assert await OmniSession("thread", down).ping() is False
    refused = StoreProxy(target_store, fail={"get_session": BackendRejected("bad password")})
    with pytest.raises(BackendRejected, match="bad password"):
        await OmniSession("thread", refused).ping()


async def test_a_non_json_item_raises_the_type_error_the_sdk_sessions_raise(
    target_store: Any,
) -> None:
    session = OmniSession("thread", target_store)
    # The SDK's sessions serialise with json.dumps (TypeError); code catching that works.
    with pytest.raises(TypeError) as caught:
        await session.add_items([{"role": "user", "content": "ok"}, {"content": object()}])
    assert isinstance(caught.value, InvalidEntry)
    assert await session.get_items() == []


# -- paging --------------------------------------------------------------------------------


async def test_pages_walk_a_long_thread_newest_page_first(target_store: Any) -> None:
    session = OmniSession("thread", target_store, session_settings={"limit": 3})
    await session.add_items(conversation(12))  # 24 items

    pages: list[list[str]] = []
    seqs: list[int] = []
    cursor = None
    while True:
        page = await session.get_items_page(cursor=cursor, page_size=10)
        pages.append(texts(event.data for event in page.events))
        seqs.extend(event.seq for event in page.events)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    everything = texts(conversation(12))
    assert pages == [everything[14:], everything[4:14], everything[:4]]
    assert [event for page in reversed(pages) for event in page] == everything
    # session_settings.limit bounds get_items(), not pages.
    assert texts(await session.get_items()) == everything[-3:]
    assert len(set(seqs)) == 24


async def test_pages_walk_forwards_with_oldest_first(target_store: Any) -> None:
    session = OmniSession("thread", target_store)
    await session.add_items(conversation(5))  # 10 items

    first = await session.get_items_page(page_size=4, oldest_first=True)
    assert texts(event.data for event in first.events) == ["q0", "a0", "q1", "a1"]
    assert first.next_cursor is not None
    second = await session.get_items_page(cursor=first.next_cursor, page_size=4, oldest_first=True)
    assert texts(event.data for event in second.events) == ["q2", "a2", "q3", "a3"]
    assert first.events[-1].seq < second.events[0].seq
    with pytest.raises(ValueError, match="other way"):
        await session.get_items_page(cursor=first.next_cursor, page_size=4)
    with pytest.raises(ValueError):
        await session.get_items_page(page_size=0)


async def test_pages_of_a_missing_thread_are_empty_and_numbers_are_never_reused(
    target_store: Any,
) -> None:
    empty = await OmniSession("never", target_store).get_items_page()
    assert (empty.events, empty.next_cursor) == ([], None)

    session = OmniSession("thread", target_store)
    await session.add_items(conversation(2))
    await session.pop_item()
    await session.add_items([{"role": "assistant", "content": "again"}])
    page = await session.get_items_page()
    assert texts(event.data for event in page.events) == ["q0", "a0", "q1", "again"]
    numbers = [event.seq for event in page.events]
    assert numbers == sorted(numbers) and numbers[-1] > numbers[-2] + 1


# -- fork ----------------------------------------------------------------------------------


@pytest.mark.needs(Capability.LIFECYCLE)
async def test_fork_copies_the_thread_which_then_goes_its_own_way(target_store: Any) -> None:
    session = OmniSession("main", target_store, user_id="ada", session_settings={"limit": 10})
    await session.update_state({"topic": "trips", "user:name": "Ada"})
    await session.add_items(conversation(2))
    await session.update_state({"mood": "curious"})

    fork = await session.fork("what-if")

    assert (fork.session_id, fork.app_name, fork.user_id) == ("what-if", "default", "ada")
    assert fork.session_settings == SessionSettings(limit=10)
    assert await fork.get_items() == await session.get_items()
    reopened = OmniSession("what-if", target_store, user_id="ada")
    assert await reopened.get_items() == await session.get_items()
    state = await fork.get_state()
    assert state == {"topic": "trips", "mood": "curious", "user:name": "Ada"}

    model = ScriptedModel([[assistant_message("on the branch")]])
    await Runner.run(Agent(name="a", model=model), "branch off", session=fork, run_config=RUN)
    assert model.last_call is not None
    assert texts(model.last_call.input) == ["q0", "a0", "q1", "a1", "branch off"]
    assert len(await fork.get_items(EVERYTHING)) == 6
    assert len(await session.get_items(EVERYTHING)) == 4
    # user: state is the user's, shared by both threads.
    await fork.update_state({"user:name": "Ada L."})
    assert (await session.get_state())["user:name"] == "Ada L."


@pytest.mark.needs(Capability.LIFECYCLE)
async def test_fork_up_to_an_item_keeps_the_items_until_it(target_store: Any) -> None:
    session = OmniSession("main", target_store)
    await session.update_state({"topic": "trips"})
    await session.add_items(conversation(3))
    await session.update_state({"mood": "curious"})
    page = await session.get_items_page()
    second_answer = page.events[3]
    assert second_answer.data == {"role": "assistant", "content": "a1"}

    fork = await session.fork("retry", up_to=second_answer.seq)

    assert texts(await fork.get_items()) == ["q0", "a0", "q1", "a1"]
    # The state the thread had up to that item: what was set before the first item
    # (state set later with update_state belongs to no item).
    assert await fork.get_state() == {"topic": "trips"}


@pytest.mark.needs(Capability.LIFECYCLE)
async def test_fork_refuses_a_taken_id_and_a_missing_thread(target_store: Any) -> None:
    session = OmniSession("main", target_store)
    with pytest.raises(SessionNotFound):
        await session.fork("copy")
    await session.add_items(conversation(1))
    # A fork is a thread of the same user: "main" here, the default user of "main".
    taken = OmniSession("taken", target_store, user_id=session.user_id)
    await taken.add_items(conversation(1, start=5))
    with pytest.raises(AlreadyExists):
        await session.fork("taken")
    assert texts(await taken.get_items()) == ["q5", "a5"]
    await session.close()
    with pytest.raises(SessionClosed):
        await session.fork("copy")


async def test_fork_on_a_store_that_cannot_says_so_and_writes_nothing(target_store: Any) -> None:
    limited = OmniSession("main", StoreProxy(target_store, hide=[Capability.LIFECYCLE]))
    await limited.add_items(conversation(1))
    with pytest.raises(Unsupported, match="does not declare the 'lifecycle' capability"):
        await limited.fork("copy")
    assert await OmniSession("copy", target_store, user_id="main").get_items() == []
