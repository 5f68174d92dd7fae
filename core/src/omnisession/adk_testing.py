"""An offline model for Google ADK agents: :class:`ScriptedLlm` and its helpers.

Try the ADK bridge, write tests, or run the README's examples without a
network connection or an API key: a :class:`ScriptedLlm` answers each request
of the Runner with the next response of its script, and records the requests
so a test can check what the Runner sent (the history it rebuilt from the
session, the instruction it filled from state)::

    from google.adk.agents import LlmAgent
    from omnisession.adk_testing import ScriptedLlm, call, reply, user_message

    model = ScriptedLlm(script=[call("remember", name="Ada"), reply("Noted, Ada.")])
    agent = LlmAgent(name="assistant", model=model, tools=[remember])
    ...
    async for event in runner.run_async(user_id="ada", session_id=session.id,
                                        new_message=user_message("call me Ada")):
        ...
    model.texts()        # the text parts of the last request, in order

Needs only ``omnisession[adk]`` (google-adk), not pytest or the conformance
suite.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from ._extras import require_extra

require_extra("google.adk", needed_by="omnisession.adk_testing", extra="adk", what="Google ADK")

from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import types
from pydantic import Field

__all__ = ["ScriptedLlm", "call", "reply", "user_message"]


class ScriptedLlm(BaseLlm):
    """An offline ``BaseLlm``: answers each request with the next scripted response.

    Every request is recorded in ``requests``. Running out of script raises
    ``AssertionError``, so a test never passes on an unexpected extra model
    call. The same object can serve an agent and ADK's compaction summarizer
    (``LlmEventSummarizer(llm=...)``): their requests share one script, in
    the order the Runner makes them.
    """

    model: str = "scripted-offline"
    script: list[LlmResponse] = Field(default_factory=list)
    requests: list[LlmRequest] = Field(default_factory=list)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.requests.append(llm_request)
        if not self.script:
            raise AssertionError("ScriptedLlm: the Runner asked for more responses than scripted")
        yield self.script.pop(0)

    def texts(self, index: int = -1) -> list[str]:
        """The text parts of every content in request ``index``, in order."""
        return [
            part.text
            for content in self.requests[index].contents
            for part in content.parts or []
            if part.text
        ]


def reply(text: str, **fields: Any) -> LlmResponse:
    """A model response that is one text part; ``fields`` set other ``LlmResponse`` fields
    (e.g. ``usage_metadata``)."""
    return LlmResponse(content=types.Content(role="model", parts=[types.Part(text=text)]), **fields)


def call(tool: str, /, **args: Any) -> LlmResponse:
    """A model response that calls ``tool`` with ``args``."""
    return LlmResponse(
        content=types.Content(
            role="model",
            parts=[types.Part(function_call=types.FunctionCall(name=tool, args=args))],
        )
    )


def user_message(text: str) -> types.Content:
    """A user turn for ``Runner.run_async(new_message=...)``."""
    return types.Content(role="user", parts=[types.Part(text=text)])
