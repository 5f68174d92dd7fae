"""Tests of omnisession.adk_store: ADK's own session services as omnisession stores."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

P = ParamSpec("P")


def run_async(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """A coroutine test as a plain test, run in a fresh event loop of its own.

    The project does not depend on pytest-asyncio; this keeps fixtures and
    parametrisation working (the signature is preserved).
    """

    @functools.wraps(test)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper
