"""The hooks a plugin may implement (module ``omnisession.hookspecs``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .plugins import Backend

hookspec = pluggy.HookspecMarker("omnisession")
hookimpl = pluggy.HookimplMarker("omnisession")


@hookspec
def omnisession_register_backends(register: Callable[[Backend], None]) -> None:
    """Call ``register(Backend(...))`` once for every backend the plugin offers."""


@hookspec
def omnisession_register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add sub-commands to the ``omnisession`` CLI.

    Each parser should ``set_defaults(handler=callable)``; the handler gets
    the parsed ``argparse.Namespace`` and returns the exit status.
    """
