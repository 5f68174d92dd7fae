"""ADK's CLI service registry: omnisession URLs for ``adk web`` / ``adk api_server``.

The FastAPI test builds the very app ``adk api_server --session_service_uri=...``
serves (``get_fast_api_app``), with an agents directory holding the one-line
``services.py`` the README documents and an agent on an offline model, and
drives it over HTTP.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.adk.cli.service_registry import ServiceRegistry, get_service_registry
from omnisession import SessionKey, open_store
from omnisession.adk import OmniSessionService, register_with_adk
from omnisession.plugins import registry


def test_every_installed_scheme_resolves_to_an_omnisession_service() -> None:
    """register_with_adk registers each installed backend's scheme; ADK builds our service."""
    adk_registry = ServiceRegistry()
    registered = register_with_adk(adk_registry)
    assert registered == sorted(registry().by_scheme)
    assert "memory" in registered
    service = adk_registry.create_session_service("memory://", agents_dir="/agents")
    assert isinstance(service, OmniSessionService)


def test_schemes_can_be_limited_and_unknown_ones_are_refused() -> None:
    adk_registry = ServiceRegistry()
    assert register_with_adk(adk_registry, schemes=["MEMORY"]) == ["memory"]
    assert adk_registry.create_session_service("redis://x") is None
    with pytest.raises(ValueError, match="installed"):
        register_with_adk(ServiceRegistry(), schemes=["nosuchengine"])


_SERVICES_PY = "from omnisession.adk import register_with_adk; register_with_adk()\n"

_AGENT_PY = textwrap.dedent(
    '''
    from typing import AsyncGenerator

    from google.adk.agents import LlmAgent
    from google.adk.models.base_llm import BaseLlm
    from google.adk.models.llm_request import LlmRequest
    from google.adk.models.llm_response import LlmResponse
    from google.genai import types


    class EchoLlm(BaseLlm):
        """Offline: answers with the last user text and how many turns it saw."""

        model: str = "echo-offline"

        async def generate_content_async(
            self, llm_request: LlmRequest, stream: bool = False
        ) -> AsyncGenerator[LlmResponse, None]:
            texts = [p.text for c in llm_request.contents for p in c.parts or [] if p.text]
            answer = f"echo: {texts[-1]} (saw {len(texts)} texts)"
            yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=answer)]))


    root_agent = LlmAgent(name="echo", model=EchoLlm(), output_key="last_answer")
    '''
)


@pytest.fixture
def agents_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An agents directory with services.py and one agent; sys.path/modules restored after."""
    agent_name = f"echo_{uuid.uuid4().hex[:8]}"
    (tmp_path / "services.py").write_text(_SERVICES_PY)
    (tmp_path / agent_name).mkdir()
    (tmp_path / agent_name / "__init__.py").write_text("from . import agent\n")
    (tmp_path / agent_name / "agent.py").write_text(_AGENT_PY)
    saved_path = list(sys.path)
    saved_services = sys.modules.pop("services", None)
    adk_registry = get_service_registry()
    saved_factories = dict(adk_registry._session_factories)
    try:
        yield tmp_path, agent_name
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("services", None)
        if saved_services is not None:
            sys.modules["services"] = saved_services
        for name in [m for m in sys.modules if m == agent_name or m.startswith(agent_name + ".")]:
            del sys.modules[name]
        adk_registry._session_factories.clear()
        adk_registry._session_factories.update(saved_factories)


def test_adk_api_server_uses_an_omnisession_url(agents_dir: tuple[Path, str]) -> None:
    """get_fast_api_app(session_service_uri=omnisession URL): create a session, run turns."""
    from fastapi.testclient import TestClient
    from google.adk.cli.fast_api import get_fast_api_app

    directory, app_name = agents_dir
    # memory://NAME is one process-wide engine, so this test can look into the
    # very store the server wrote; ADK's own memory:// would ignore NAME.
    url = f"memory://adk-api-{uuid.uuid4().hex}"
    app = get_fast_api_app(
        agents_dir=str(directory),
        session_service_uri=url,
        web=False,
        use_local_storage=False,
    )
    with TestClient(app) as client:
        created = client.post(
            f"/apps/{app_name}/users/ada/sessions",
            json={"session_id": "s1", "state": {"user:name": "Ada", "topic": "tea"}},
        )
        assert created.status_code == 200, created.text
        assert created.json()["state"] == {"user:name": "Ada", "topic": "tea"}

        answers = []
        for text in ("hello", "again"):
            ran = client.post(
                "/run",
                json={
                    "app_name": app_name,
                    "user_id": "ada",
                    "session_id": "s1",
                    "new_message": {"role": "user", "parts": [{"text": text}]},
                },
            )
            assert ran.status_code == 200, ran.text
            answers.append(ran.json()[-1]["content"]["parts"][0]["text"])
        assert answers == ["echo: hello (saw 1 texts)", "echo: again (saw 3 texts)"]

        fetched = client.get(f"/apps/{app_name}/users/ada/sessions/s1").json()
        assert fetched["state"]["last_answer"] == "echo: again (saw 3 texts)"
        assert len(fetched["events"]) == 4

    async def stored() -> Any:
        async with open_store(url) as store:
            return await store.get_session(SessionKey(app_name, "ada", "s1"))

    record = asyncio.run(stored())
    assert record is not None, "the server did not write to the omnisession store"
    assert len(record.events) == 4
    assert record.state["user:name"] == "Ada"


def test_services_yaml_can_name_the_class() -> None:
    """ADK's services.yaml route: ``class: omnisession.adk.OmniSessionService`` for a scheme."""
    from google.adk.cli.service_registry import _register_services_from_yaml_config

    adk_registry = ServiceRegistry()
    config = {
        "services": [
            {"scheme": "memory", "type": "session", "class": "omnisession.adk.OmniSessionService"}
        ]
    }
    _register_services_from_yaml_config(config, adk_registry)
    service = adk_registry.create_session_service("memory://", agents_dir="/agents")
    assert isinstance(service, OmniSessionService)
