"""Loading a 10,000-event session: ADK's InMemorySessionService vs OmniSessionService.

Not a test (no timed assertions in the suite); run it to measure::

    .venv/bin/python -m tests.adk.load_10k memory:// sqlite:///tmp/load.db redis://127.0.0.1:6379/9

Prints, per service, the best and median of 5 loads, as wall time and as this
process's CPU time (CPU time is steadier on a busy machine; wall time also
counts the database server's work).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import uuid
from typing import Any

from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions import InMemorySessionService
from google.adk.sessions.base_session_service import BaseSessionService
from google.genai import types
from omnisession import SessionKey
from omnisession.adk import OmniSessionService, encode_event

N = 10_000


def make_event(index: int) -> Event:
    """A chat-sized event: one text part, a state delta on every tenth."""
    user = index % 2 == 0
    return Event(
        invocation_id=f"inv-{index // 2}",
        author="user" if user else "assistant",
        content=types.Content(
            role="user" if user else "model",
            parts=[types.Part(text=f"message number {index} " * 5)],
        ),
        actions=EventActions(state_delta={"n": index} if index % 10 == 0 else {}),
    )


async def measure(service: BaseSessionService, app: str, label: str) -> None:
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(5):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        loaded = await service.get_session(app_name=app, user_id="u", session_id="s")
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert loaded is not None and len(loaded.events) == N
        del loaded
    walls.sort()
    cpus.sort()
    print(
        f"{label:45s} wall best {walls[0] * 1000:7.1f} ms median {walls[2] * 1000:7.1f} ms"
        f" | cpu best {cpus[0] * 1000:7.1f} ms median {cpus[2] * 1000:7.1f} ms"
    )


async def main(urls: list[str]) -> None:
    events = [make_event(i) for i in range(N)]
    reference = InMemorySessionService()
    session = await reference.create_session(app_name="bench", user_id="u", session_id="s")
    for event in events:
        await reference.append_event(session, event.model_copy(deep=True))
    await measure(reference, "bench", "ADK InMemorySessionService")
    payloads: list[Any] = [encode_event(event) for event in events]
    for url in urls:
        async with OmniSessionService(url) as service:
            app = f"bench-{uuid.uuid4().hex[:8]}"
            key = SessionKey(app, "u", "s")
            for start in range(0, N, 1000):  # fill in a few large writes
                await service.store.add_items(key, payloads[start : start + 1000])
            await measure(service, app, f"OmniSessionService({url})")
            await service.store.delete_session(key)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or ["memory://"]))
