"""A readable timeline of a session's history: ADK events and OpenAI items alike.

:func:`describe` turns one stored payload into the lines ``omnisession
sessions show`` prints for it: who spoke, what kind of step it was
(message, tool call, tool result, reasoning, ...) and its text, shortened.
Payloads of neither framework are shown as compact JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _json
from ..model import JSONObject

__all__ = ["Step", "describe", "shorten"]

#: The longest text shown for one step (the JSON output keeps everything).
MAX_TEXT = 400

_OPENAI_TYPES = frozenset(
    {
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "computer_call",
        "computer_call_output",
        "file_search_call",
        "web_search_call",
        "code_interpreter_call",
        "image_generation_call",
        "local_shell_call",
        "local_shell_call_output",
        "mcp_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "custom_tool_call",
        "custom_tool_call_output",
        "compaction",
        "item_reference",
    }
)


@dataclass(frozen=True, slots=True)
class Step:
    """One line of the timeline."""

    who: str
    kind: str
    """``message``, ``tool call``, ``tool result``, ``reasoning``, ``event`` or ``item``."""
    text: str


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _compact(value: Any) -> str:
    try:
        return _json.dumps(value)
    except ValueError:
        return repr(value)


def describe(data: JSONObject) -> list[Step]:
    """The timeline lines of one stored payload (at least one)."""
    if _is_adk_event(data):
        return _adk_steps(data)
    if _is_openai_item(data):
        return _openai_steps(data)
    return [Step("", "entry", shorten(_compact(data)))]


# -- ADK events ----------------------------------------------------------------------------


def _is_adk_event(data: JSONObject) -> bool:
    return isinstance(data.get("author"), str) and (
        "content" in data or "actions" in data or "invocation_id" in data
    )


def _adk_steps(data: JSONObject) -> list[Step]:
    who = str(data.get("author"))
    steps: list[Step] = []
    content = data.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            kind = "reasoning" if part.get("thought") else "message"
            steps.append(Step(who, kind, shorten(part["text"])))
        elif isinstance(part.get("function_call"), dict):
            call = part["function_call"]
            steps.append(
                Step(
                    who, "tool call", shorten(f"{call.get('name')}({_arguments(call.get('args'))})")
                )
            )
        elif isinstance(part.get("function_response"), dict):
            response = part["function_response"]
            steps.append(
                Step(
                    who,
                    "tool result",
                    shorten(f"{response.get('name')} -> {_compact(response.get('response'))}"),
                )
            )
        elif isinstance(part.get("executable_code"), dict):
            steps.append(Step(who, "code", shorten(str(part["executable_code"].get("code")))))
        elif isinstance(part.get("code_execution_result"), dict):
            result = part["code_execution_result"]
            steps.append(Step(who, "code result", shorten(str(result.get("output")))))
        elif part.get("inline_data") or part.get("file_data"):
            blob = part.get("inline_data") or part.get("file_data") or {}
            mime = blob.get("mime_type", "data") if isinstance(blob, dict) else "data"
            steps.append(Step(who, "attachment", f"[{mime}]"))
    actions = data.get("actions")
    if isinstance(actions, dict):
        if actions.get("transfer_to_agent"):
            steps.append(Step(who, "transfer", f"-> {actions['transfer_to_agent']}"))
        if actions.get("escalate"):
            steps.append(Step(who, "escalate", "escalate"))
    if data.get("error_code") or data.get("error_message"):
        steps.append(
            Step(who, "error", shorten(f"{data.get('error_code')}: {data.get('error_message')}"))
        )
    if not steps:
        has_delta = isinstance(actions, dict) and bool(actions.get("state_delta"))
        steps.append(Step(who, "event", "(state update)" if has_delta else "(no content)"))
    return steps


def _arguments(args: Any) -> str:
    if isinstance(args, dict):
        return ", ".join(f"{key}={_compact(value)}" for key, value in args.items())
    if isinstance(args, str):
        return args
    return "" if args is None else _compact(args)


# -- OpenAI Agents SDK items ---------------------------------------------------------------


def _is_openai_item(data: JSONObject) -> bool:
    kind = data.get("type")
    if isinstance(kind, str) and kind in _OPENAI_TYPES:
        return True
    return isinstance(data.get("role"), str) and "content" in data


def _openai_steps(data: JSONObject) -> list[Step]:
    kind = data.get("type") or "message"
    if kind == "message":
        return [Step(str(data.get("role", "")), "message", shorten(_message_text(data)))]
    if kind in ("function_call", "custom_tool_call"):
        arguments = data.get("arguments", data.get("input", ""))
        return [
            Step(
                "assistant",
                "tool call",
                shorten(f"{data.get('name')}({_openai_arguments(arguments)})"),
            )
        ]
    if kind.endswith("_output"):
        output = data.get("output")
        text = output if isinstance(output, str) else _compact(output)
        return [Step("tool", "tool result", shorten(f"{data.get('call_id', '')} -> {text}"))]
    if kind == "reasoning":
        summary = data.get("summary")
        parts = summary if isinstance(summary, list) else []
        texts = [str(part.get("text", "")) for part in parts if isinstance(part, dict)]
        return [Step("assistant", "reasoning", shorten(" ".join(texts) or "(reasoning)"))]
    rest = {key: value for key, value in data.items() if key not in ("type", "id")}
    return [Step("assistant", kind.replace("_", " "), shorten(_compact(rest)))]


def _message_text(data: JSONObject) -> str:
    content = data.get("content")
    if isinstance(content, str):
        return content
    pieces: list[str] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            pieces.append(part["text"])
        elif isinstance(part.get("refusal"), str):
            pieces.append(f"[refusal] {part['refusal']}")
        elif part.get("type") in ("input_image", "input_file", "input_audio"):
            pieces.append(f"[{part['type'][6:]}]")
    return " ".join(pieces) if pieces else _compact(content)


def _openai_arguments(arguments: Any) -> str:
    if isinstance(arguments, str):
        try:
            decoded = _json.loads(arguments)
        except ValueError:
            return arguments
        return _arguments(decoded)
    return _arguments(arguments)
