"""The Lua scripts (``lua/*.lua``): every write of the store is one of them.

Each script is its own file, with ``lua/lib.lua`` (shared helpers) put in front
of it, and ``lua/json.lua`` too for the two that rebuild a state from recorded
deltas. The store sends a script by SHA (``EVALSHA``) and falls back to
``EVAL`` on ``NOSCRIPT``: first use on a server, after ``SCRIPT FLUSH`` or a
restart. What each script takes and replies is documented at its top.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib.resources import files

__all__ = [
    "AGE",
    "DELETE",
    "ERASE_APP",
    "ERASE_USER",
    "EVENTS",
    "EXPIRIES",
    "FORGET",
    "FORK",
    "FORK_READ",
    "GET",
    "POP",
    "REGISTER",
    "SCOPE",
    "UNLIST",
    "UPDATE_SCOPE",
    "WRITE",
    "Script",
]


def _source(name: str) -> str:
    return (files(__package__) / "lua" / f"{name}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA1, for ``EVALSHA`` with an ``EVAL`` fallback on NOSCRIPT."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())

    @classmethod
    def load(cls, name: str, *, json: bool = False) -> Script:
        """``lua/NAME.lua`` with the shared library (and the JSON reader) in front."""
        parts = [_source("lib"), *([_source("json")] if json else []), _source(name)]
        return cls(name, "\n".join(parts))


WRITE = Script.load("write")
GET = Script.load("get")
EVENTS = Script.load("events")
POP = Script.load("pop")
DELETE = Script.load("delete")
SCOPE = Script.load("scope")
UPDATE_SCOPE = Script.load("update_scope")
REGISTER = Script.load("register")
UNLIST = Script.load("unlist")
FORGET = Script.load("forget")
ERASE_USER = Script.load("erase_user")
ERASE_APP = Script.load("erase_app")
FORK = Script.load("fork", json=True)
FORK_READ = Script.load("fork_read", json=True)
EXPIRIES = Script.load("expiries")
AGE = Script.load("age")
