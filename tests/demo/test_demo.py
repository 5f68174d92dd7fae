"""`omnisession demo` end to end, twice on one SQLite file: what it prints and what it stored.

The demo runs through the real CLI entry point (`omnisession.cli.main`), the real
`google.adk.runners.Runner` and the real `agents.Runner`, with the demo's offline
scripted models, which answer only from what each framework sends them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from omnisession import SessionKey, open_store
from omnisession.cli import main

APP, USER = "omnisession-demo", "ada"
ADK, OPENAI = "trip-planning", "flight-booking"


def run_cli(url: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["demo", "--url", url]) == 0
    return capsys.readouterr().out


async def stored(url: str) -> dict[str, Any]:
    async with open_store(url) as store:
        adk = await store.get_session(SessionKey(APP, USER, ADK))
        openai = await store.get_session(SessionKey(APP, USER, OPENAI))
        assert adk is not None and openai is not None
        return {
            "adk_events": [e.data for e in adk.events],
            "adk_state": adk.state,
            "openai_items": [e.data for e in openai.events],
            "openai_state": openai.state,
            "user_state": await store.get_user_state(APP, USER),
            "sessions": [r.key.session_id for r in (await store.list_sessions(APP, USER)).sessions],
        }


def adk_summary(event: dict[str, Any]) -> tuple[str, str]:
    part = event["content"]["parts"][0]
    if "function_call" in part:
        return event[
            "author"
        ], f"call {part['function_call']['name']} {part['function_call']['args']}"
    if "function_response" in part:
        return event["author"], f"result {part['function_response']['response']}"
    return event["author"], part["text"]


def test_demo_twice_shares_state_between_frameworks_and_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"

    # -- run 1 ------------------------------------------------------------------
    first = run_cli(url, capsys)
    assert "omnisession demo: run 1" in first
    assert "created session 'trip-planning' for user 'ada'" in first
    # The ADK model only knows the name and diet from the instruction template ADK filled.
    assert "concierge: Noted, Ada: a window seat and vegetarian meals (0 earlier" in first
    # The OpenAI model only knows the seat from instructions filled from user: state,
    # which the ADK tool wrote.
    assert (
        "booking: Booked for Ada: Porto -> Lisbon, window seat, vegetarian meal "
        "(request 1 of this conversation)." in first
    )
    assert "ADK session  [omnisession-demo / ada / trip-planning]" in first
    assert "OpenAI Agents session  [omnisession-demo / ada / flight-booking]" in first
    assert "user     user:seat          'window'" in first

    after_first = asyncio.run(stored(url))
    assert after_first["user_state"] == {
        "name": "Ada",
        "diet": "vegetarian",
        "home_city": "Porto",
        "seat": "window",
        "trip_summary": "Lisbon, 12-14 June",
    }
    # Session scope stays with its session: `trip` in the ADK one, `bookings` in the OpenAI one.
    assert after_first["adk_state"]["trip"] == "Lisbon, 12-14 June"
    assert "bookings" not in after_first["adk_state"]
    assert after_first["openai_state"]["bookings"] == 1
    assert "trip" not in after_first["openai_state"]
    # Both sessions see the user scope.
    assert after_first["openai_state"]["user:seat"] == "window"
    assert after_first["adk_state"]["user:name"] == "Ada"
    assert [adk_summary(e) for e in after_first["adk_events"]] == [
        ("user", "Please plan my trip: I always like a window seat."),
        ("concierge", "call remember_preference {'key': 'seat', 'value': 'window'}"),
        ("concierge", "result {'stored': 'user:seat', 'value': 'window'}"),
        (
            "concierge",
            "Noted, Ada: a window seat and vegetarian meals "
            "(0 earlier request(s) in this session).",
        ),
    ]
    items = after_first["openai_items"]
    assert [(i.get("role"), i.get("type")) for i in items] == [
        ("user", None),
        ("assistant", "message"),
    ]
    assert items[0]["content"] == "Book my flight to Lisbon, please."
    assert "window seat" in items[1]["content"][0]["text"]
    assert sorted(after_first["sessions"]) == [OPENAI, ADK]

    # -- run 2 continues ------------------------------------------------------------
    second = run_cli(url, capsys)
    assert "omnisession demo: run 2" in second
    assert "continuing session 'trip-planning': 4 events stored by earlier runs" in second
    assert "concierge: Noted, Ada: an aisle seat and vegetarian meals (1 earlier" in second
    assert "aisle seat, vegetarian meal (request 2 of this conversation)." in second

    after_second = asyncio.run(stored(url))
    assert after_second["user_state"]["seat"] == "aisle"
    assert after_second["openai_state"]["bookings"] == 2
    assert after_second["adk_events"][:4] == after_first["adk_events"]
    assert [adk_summary(e) for e in after_second["adk_events"][4:6]] == [
        ("user", "Actually, I'd rather have an aisle seat this time."),
        ("concierge", "call remember_preference {'key': 'seat', 'value': 'aisle'}"),
    ]
    assert len(after_second["adk_events"]) == 8
    assert after_second["openai_items"][:2] == after_first["openai_items"]
    assert len(after_second["openai_items"]) == 4
    # The second run's model saw the first run's turn (turn 2's input contains turn 1).
    assert "request 2 of this conversation" in after_second["openai_items"][3]["content"][0]["text"]


def test_live_without_any_key_explains_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    assert main(["demo", "--live", "--url", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "needs GOOGLE_API_KEY and/or OPENAI_API_KEY" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()
