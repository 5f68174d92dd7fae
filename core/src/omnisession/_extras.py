"""The import guard of the modules that need an optional extra of ``omnisession``.

``omnisession.openai_agents`` needs the OpenAI Agents SDK, ``omnisession.adk``
and ``omnisession.adk_testing`` need Google ADK. Without them, Python's own
error (``No module named 'agents'``) does not say what to install; each such
module imports its framework through :func:`require_extra` first, which names
the extra.
"""

from __future__ import annotations

import importlib

__all__ = ["require_extra"]


def require_extra(module: str, *, needed_by: str, extra: str, what: str) -> None:
    """Import ``module``, or raise ``ModuleNotFoundError`` naming the extra to install."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{needed_by} needs {what} ({exc.name!r} is not installed): "
            f"pip install 'omnisession[{extra}]'",
            name=exc.name,
        ) from exc
