"""``omnisession demo``: one store, a Google ADK agent and an OpenAI Agents agent.

Offline by default: each framework runs its real runner (``google.adk.runners.Runner``,
``agents.Runner``) with a scripted model that answers only from what the framework
sends it, so every name and preference in the answers travelled through the store:

1. The ADK session of user ``ada`` is created with her name and preferences as
   state (``user:name``, ``user:diet``: user scope; ``trip``: session scope).
2. The ADK agent's instruction is a template (``{user:name}``, ``{user:diet}``,
   ``{trip}``) that ADK fills from that state; the scripted model reads the
   name from the filled instruction.
3. The ADK agent calls a tool that writes the ``user:seat`` preference.
4. The OpenAI Agents agent continues in its own session of the same user; its
   instructions are filled from omnisession state (``state_instructions``), so
   it sees ``user:seat`` that the ADK tool wrote.
5. Both sessions are printed as tables (history and state by scope).

Run it again: the sessions continue from what the first run stored (the
second run asks for an aisle seat instead of a window seat, and both models
see the earlier turns).

``--live`` uses real models where a key is set: Gemini with ``GOOGLE_API_KEY``,
OpenAI with ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omnisession import SessionKey, SessionStore, open_store

if TYPE_CHECKING:
    from google.adk.models.llm_request import LlmRequest
    from google.adk.models.llm_response import LlmResponse

__all__ = [
    "ADK_SESSION",
    "APP_NAME",
    "OPENAI_SESSION",
    "USER_ID",
    "DemoOutcome",
    "run_demo",
    "run_demo_cli",
]

APP_NAME = "omnisession-demo"
USER_ID = "ada"
ADK_SESSION = "trip-planning"
OPENAI_SESSION = "flight-booking"

INITIAL_STATE = {
    "user:name": "Ada",
    "user:diet": "vegetarian",
    "user:home_city": "Porto",
    "trip": "Lisbon, 12-14 June",
}

ADK_INSTRUCTION = (
    "You are the travel concierge of {user:name}, who eats {user:diet} food. "
    "Trip being planned: {trip}. Seat preference on file: {user:seat?}. "
    "When the user states a preference, store it with remember_preference."
)

OPENAI_INSTRUCTIONS = (
    "You book flights for {user:name} (home: {user:home_city}). "
    "Seat: {user:seat?}. Meal: {user:diet}. Trip: {user:trip_summary?}."
)

LIVE_GEMINI_MODEL = "gemini-2.5-flash"
LIVE_OPENAI_MODEL = "gpt-4.1-mini"


def _seat_request(run: int) -> tuple[str, str]:
    """The user's message of run ``run`` and the seat it asks for."""
    if run % 2 == 1:
        return "Please plan my trip: I always like a window seat.", "window"
    return "Actually, I'd rather have an aisle seat this time.", "aisle"


# -- the ADK side ------------------------------------------------------------------


def remember_preference(key: str, value: str, tool_context: Any) -> dict[str, str]:
    """Remember one of the user's travel preferences (e.g. key="seat", value="window").

    Stored as user-scoped state (``user:<key>``), so every session of this user,
    in any framework on the same store, sees it.
    """
    tool_context.state[f"user:{key}"] = value
    tool_context.state["user:trip_summary"] = tool_context.state.get("trip", "")
    return {"stored": f"user:{key}", "value": value}


def _scripted_gemini() -> Any:
    """An offline ``BaseLlm``: calls the tool, then confirms using the filled instruction."""
    from google.adk.models.base_llm import BaseLlm
    from google.adk.models.llm_response import LlmResponse
    from google.genai import types

    class ScriptedConcierge(BaseLlm):
        """Answers only from the request ADK builds: instruction, history, tool results."""

        async def generate_content_async(
            self, llm_request: LlmRequest, stream: bool = False
        ) -> AsyncGenerator[LlmResponse, None]:
            instruction = str(llm_request.config.system_instruction or "")
            name = _first(r"travel concierge of (\w+)", instruction, "stranger")
            diet = _first(r"who eats (\w+) food", instruction, "any")
            on_file = _first(r"Seat preference on file: (\w*)", instruction, "")
            usage = types.GenerateContentResponseUsageMetadata(
                prompt_token_count=0, candidates_token_count=0, total_token_count=0
            )
            contents = llm_request.contents
            last = contents[-1] if contents else None
            response = _function_response(last)
            if response is not None:
                earlier = sum(1 for c in contents if c.role == "user" and _text(c)) - 1
                seat = response.get("value", "?")
                before = f" (was: {on_file})" if on_file and on_file != seat else ""
                text = (
                    f"Noted, {name}: {_article(seat)} {seat} seat{before} and {diet} meals "
                    f"({earlier} earlier request(s) in this session)."
                )
                yield LlmResponse(
                    content=types.Content(role="model", parts=[types.Part(text=text)]),
                    usage_metadata=usage,
                )
                return
            request = _text(last) if last is not None else ""
            seat = "aisle" if "aisle" in request.lower() else "window"
            call = types.FunctionCall(
                name="remember_preference", args={"key": "seat", "value": seat}
            )
            yield LlmResponse(
                content=types.Content(role="model", parts=[types.Part(function_call=call)]),
                usage_metadata=usage,
            )

    return ScriptedConcierge(model="scripted-concierge")


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _text(content: Any) -> str:
    return "".join(part.text or "" for part in (content.parts or []) if part.text)


def _function_response(content: Any) -> dict[str, Any] | None:
    if content is None:
        return None
    for part in content.parts or []:
        if part.function_response is not None:
            return dict(part.function_response.response or {})
    return None


def _first(pattern: str, text: str, default: str) -> str:
    match = re.search(pattern, text)
    return match.group(1) if match else default


async def _adk_turn(store: SessionStore, message: str, live: bool) -> str:
    from google.adk.agents import LlmAgent
    from google.adk.runners import Runner
    from google.genai import types
    from omnisession.adk import OmniSessionService

    service = OmniSessionService(store)
    agent = LlmAgent(
        name="concierge",
        model=LIVE_GEMINI_MODEL if live else _scripted_gemini(),
        instruction=ADK_INSTRUCTION,
        tools=[remember_preference],
    )
    runner = Runner(agent=agent, app_name=APP_NAME, session_service=service)
    reply = ""
    async for event in runner.run_async(
        user_id=USER_ID,
        session_id=ADK_SESSION,
        new_message=types.Content(role="user", parts=[types.Part(text=message)]),
    ):
        if event.content is not None and event.author == agent.name and _text(event.content):
            reply = _text(event.content)
    await runner.close()
    return reply


# -- the OpenAI Agents side ------------------------------------------------------------


def _scripted_openai_model() -> Any:
    """An offline ``Model``: confirms the booking from the instructions the SDK sends."""
    from agents.testing import ModelStep, ScriptedModel, assistant_message

    def respond(call: Any) -> Any:
        instructions = call.system_instructions or ""
        name = _first(r"book flights for (\w+)", instructions, "stranger")
        seat = _first(r"Seat: (\w+)", instructions, "any")
        meal = _first(r"Meal: (\w+)", instructions, "standard")
        items = call.input if isinstance(call.input, list) else []
        earlier = sum(1 for item in items if isinstance(item, dict) and item.get("role") == "user")
        text = (
            f"Booked for {name}: Porto -> Lisbon, {seat} seat, {meal} meal "
            f"(request {earlier} of this conversation)."
        )
        return [assistant_message(text, item_id=f"msg-{earlier}")]

    return ScriptedModel([ModelStep.respond(respond)])


async def _openai_turn(store: SessionStore, message: str, live: bool) -> str:
    from agents import Agent, RunConfig, Runner
    from omnisession.openai_agents import OmniSession, state_instructions

    session = OmniSession(OPENAI_SESSION, store=store, app_name=APP_NAME, user_id=USER_ID)
    agent: Agent[Any] = Agent(
        name="booking",
        instructions=state_instructions(OPENAI_INSTRUCTIONS, session),
        model=LIVE_OPENAI_MODEL if live else _scripted_openai_model(),
    )
    config = RunConfig(tracing_disabled=not live)
    result = await Runner.run(agent, message, session=session, run_config=config)
    bookings = int((await session.get_state()).get("bookings") or 0) + 1
    await session.update_state({"bookings": bookings})
    return str(result.final_output)


# -- printing --------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, width: int = 96) -> str:
    """A plain aligned table; cells longer than ``width`` are cut with an ellipsis."""
    cut = [[_cut(str(cell), width) for cell in row] for row in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *cut, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in cut
    ]
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_entry(payload: dict[str, Any]) -> tuple[str, str, str]:
    """(who, kind, text) of a stored ADK event or OpenAI item, for the history table."""
    if "author" in payload or "invocation_id" in payload:  # an ADK event
        who = str(payload.get("author", "?"))
        parts = (payload.get("content") or {}).get("parts") or []
        for part in parts:
            if part.get("function_call"):
                call = part["function_call"]
                return who, "tool call", f"{call.get('name')}({_args(call.get('args'))})"
            if part.get("function_response"):
                response = part["function_response"]
                return who, "tool result", f"{response.get('name')} -> {response.get('response')}"
        text = "".join(part.get("text") or "" for part in parts)
        delta = (payload.get("actions") or {}).get("state_delta") or {}
        return who, "message" if text else "state", text or f"state delta {delta}"
    kind = str(payload.get("type", "message"))
    who = str(payload.get("role", payload.get("type", "?")))
    content = payload.get("content")
    if isinstance(content, list):
        text = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    else:
        text = str(content if content is not None else payload.get("output", ""))
    return who, kind, text


def _args(args: Any) -> str:
    if isinstance(args, dict):
        return ", ".join(f"{k}={v!r}" for k, v in args.items())
    return str(args)


def scope_rows(state: dict[str, Any]) -> list[list[str]]:
    """State rows (scope, key, value), user scope first."""
    rows = []
    for key, value in state.items():
        if key.startswith("app:"):
            rows.append(["app", key, repr(value)])
        elif key.startswith("user:"):
            rows.append(["user", key, repr(value)])
        else:
            rows.append(["session", key, repr(value)])
    order = {"user": 0, "app": 1, "session": 2}
    return sorted(rows, key=lambda row: (order[row[0]], row[1]))


async def render_session(store: SessionStore, session_id: str, title: str) -> str:
    """The history and state tables of one session of the demo user."""
    record = await store.get_session(SessionKey(APP_NAME, USER_ID, session_id))
    if record is None:
        return f"{title}: (no session)"
    history = [[str(i), *describe_entry(e.data)] for i, e in enumerate(record.events, 1)]
    return "\n".join(
        [
            f"{title}  [{APP_NAME} / {USER_ID} / {session_id}]  revision {record.revision}",
            table(["#", "who", "kind", "content"], history),
            "",
            table(["scope", "key", "value"], scope_rows(record.state)),
        ]
    )


# -- the script ------------------------------------------------------------------------


@dataclass
class DemoOutcome:
    """What one run did, for callers and tests."""

    run: int
    adk_reply: str
    openai_reply: str
    output: str


async def run_demo(url: str, *, live: bool = False, out: Any = None) -> DemoOutcome:
    """Run the demo once against the store at ``url``; print to ``out`` (stdout)."""
    out = out if out is not None else sys.stdout
    printed: list[str] = []

    def say(text: str = "") -> None:
        printed.append(text)
        print(text, file=out, flush=True)

    live_adk = live and bool(os.environ.get("GOOGLE_API_KEY"))
    live_openai = live and bool(os.environ.get("OPENAI_API_KEY"))
    async with open_store(url) as store:
        key = SessionKey(APP_NAME, USER_ID, ADK_SESSION)
        existing = await store.get_session(key)
        if existing is None:
            run = 1
            from omnisession.adk import OmniSessionService

            await OmniSessionService(store).create_session(
                app_name=APP_NAME, user_id=USER_ID, session_id=ADK_SESSION, state=INITIAL_STATE
            )
            say(f"omnisession demo: run 1 on {url}")
            say(f"created session {ADK_SESSION!r} for user {USER_ID!r} with state {INITIAL_STATE}")
        else:
            run = 1 + sum(1 for e in existing.events if e.data.get("author") == "user")
            say(f"omnisession demo: run {run} on {url}")
            user_state = await store.get_user_state(APP_NAME, USER_ID)
            say(
                f"continuing session {ADK_SESSION!r}: {len(existing.events)} events stored by "
                f"earlier runs; user state {dict(sorted(user_state.items()))}"
            )
        adk_model = LIVE_GEMINI_MODEL if live_adk else "scripted offline model"
        openai_model = LIVE_OPENAI_MODEL if live_openai else "scripted offline model"
        message, _ = _seat_request(run)
        say("")
        say(f"[ADK / {adk_model}] user: {message}")
        adk_reply = await _adk_turn(store, message, live_adk)
        say(f"[ADK / {adk_model}] concierge: {adk_reply}")
        booking = "Book my flight to Lisbon, please."
        say(f"[OpenAI Agents / {openai_model}] user: {booking}")
        openai_reply = await _openai_turn(store, booking, live_openai)
        say(f"[OpenAI Agents / {openai_model}] booking: {openai_reply}")
        say("")
        say(await render_session(store, ADK_SESSION, "ADK session"))
        say("")
        say(await render_session(store, OPENAI_SESSION, "OpenAI Agents session"))
        say("")
        say(
            f"Both agents share {url}: the seat the ADK tool stored as user:seat is what the "
            "OpenAI agent booked. Run the demo again to continue these sessions."
        )
    return DemoOutcome(run, adk_reply, openai_reply, "\n".join(printed))


def run_demo_cli(url: str, *, live: bool = False) -> int:
    """The ``omnisession demo`` command."""
    if live and not (os.environ.get("GOOGLE_API_KEY") or os.environ.get("OPENAI_API_KEY")):
        print(
            "omnisession demo --live needs GOOGLE_API_KEY and/or OPENAI_API_KEY; "
            "without --live the demo runs offline with scripted models",
            file=sys.stderr,
        )
        return 2
    asyncio.run(run_demo(url, live=live))
    return 0
