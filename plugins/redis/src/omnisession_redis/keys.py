"""The key layout: escaping, hash tags, and how state names become hash fields.

Every id is percent-encoded (``urllib.parse.quote(id, safe="")``), so an
escaped id contains only ``A-Z a-z 0-9 _ . - ~ %``: never ``:``, ``{`` or
``}``. Percent-encoding is injective, and ``:`` separates escaped ids, so two
distinct keys can never produce the same Redis key, and an id can never open
or close a hash tag. (Ids are valid unicode: core's ``check_id`` refuses a
lone surrogate before any I/O.)

Layout (``P`` is the configured prefix, ``A``/``U``/``S`` the escaped ids)::

    P:s:{A:U:S}:m    HASH  session meta: c created_at, u updated_at, r revision,
                           n highest seq ever written, k clock (cluster only)
    P:s:{A:U:S}:st   HASH  session state: name -> JSON value
    P:s:{A:U:S}:e    ZSET  events: score seq, member "seq timestamp payload-json"
    P:s:{A:U:S}:t    ZSET  event times: score timestamp, member seq (for ``since``)
    P:s:{A:U:S}:d    HASH  recorded state deltas: seq -> JSON (only events that have one)
    P:s:{A:U:S}:b    HASH  base state (before the first event): name -> JSON value
    P:u:{A:U}:st     HASH  user state
    P:u:{A:U}:ix     ZSET  the user's sessions: member S, score updated_at
    P:u:{A:U}:ck     HASH  cluster only: clock of each user value ("v"+name) and entry ("i"+S)
    P:a:{A}:st       HASH  app state
    P:a:{A}:ix       ZSET  the app's sessions: member U:S, score updated_at
    P:a:{A}:ck       HASH  cluster only: clocks, as for the user scope
    P:a:{A}:us       SET   users of the app with user: state (so erase_app finds them)

The keys of a session share the hash tag ``{A:U:S}`` and so one cluster slot;
user keys share ``{A:U}``, app keys ``{A}``.

State names (hash fields) are the names' UTF-8 bytes. A name holding a lone
surrogate is written with that surrogate's own three bytes (Python's
``surrogatepass``), which valid UTF-8 never contains, so names stay distinct
and decode back exactly; nothing the plugin encodes can raise
``UnicodeEncodeError``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import quote, unquote

from omnisession.errors import InvalidOption
from omnisession.model import SessionKey

__all__ = [
    "KeyLayout",
    "check_prefix",
    "decode_name",
    "encode_name",
    "escape",
    "glob_escape",
    "unescape",
]

SESSION_SUFFIXES = ("m", "st", "e", "t", "d", "b")


@functools.lru_cache(maxsize=8192)  # every write builds a dozen keys from the same few ids
def escape(ident: str) -> str:
    """Percent-encode every byte of ``ident`` except ``A-Za-z0-9_.-~``."""
    return quote(ident, safe="")


def unescape(text: str) -> str:
    """Inverse of :func:`escape`."""
    return unquote(text, errors="strict")


def encode_name(name: str) -> str | bytes:
    """A state name as a hash field: its UTF-8 (a lone surrogate as its own 3 bytes)."""
    if name.isascii():
        return name
    return name.encode("utf-8", "surrogatepass")


def decode_name(field: bytes) -> str:
    """Inverse of :func:`encode_name`."""
    return field.decode("utf-8", "surrogatepass")


def glob_escape(text: str) -> str:
    """``text`` as a literal in a SCAN MATCH pattern."""
    return "".join("\\" + char if char in "\\*?[]" else char for char in text)


@dataclass(frozen=True)
class KeyLayout:
    """Builds every Redis key of one store from its prefix."""

    prefix: str

    def session_head(self, key: SessionKey) -> str:
        """``P:s:{A:U:S}:``, what the six keys of a session start with."""
        return (
            f"{self.prefix}:s:{{{escape(key.app_name)}:{escape(key.user_id)}:"
            f"{escape(key.session_id)}}}:"
        )

    def session(self, key: SessionKey) -> list[str]:
        """``[meta, state, events, times, deltas, base]``, all in the session's slot."""
        head = self.session_head(key)
        return [head + suffix for suffix in SESSION_SUFFIXES]

    def user(self, app_name: str, user_id: str) -> list[str]:
        """``[state, index, clocks]`` of the (app, user) scope, in the user's slot."""
        head = f"{self.prefix}:u:{{{escape(app_name)}:{escape(user_id)}}}:"
        return [head + "st", head + "ix", head + "ck"]

    def app(self, app_name: str) -> list[str]:
        """``[state, index, clocks, users]`` of the app scope, in the app's slot."""
        head = f"{self.prefix}:a:{{{escape(app_name)}}}:"
        return [head + "st", head + "ix", head + "ck", head + "us"]

    def app_session_head(self, app_name: str) -> str:
        """``P:s:{A:``: a session's key head is this, its app member, then ``}:``."""
        return f"{self.prefix}:s:{{{escape(app_name)}:"

    def app_user_head(self, app_name: str) -> str:
        """``P:u:{A:``: a user scope key is this, the escaped user id, ``}:`` and a suffix."""
        return f"{self.prefix}:u:{{{escape(app_name)}:"

    def app_pattern(self) -> str:
        """A SCAN pattern matching every app-scope key of this prefix."""
        return f"{glob_escape(self.prefix)}:a:{{*"

    def app_of(self, name: bytes) -> str | None:
        """The app name an app-scope key (``P:a:{A}:x``) belongs to, else ``None``."""
        text = name.decode()
        head = f"{self.prefix}:a:{{"
        if not text.startswith(head):
            return None
        escaped, closing, suffix = text[len(head) :].partition("}:")
        if not closing or suffix not in ("st", "ix", "us"):
            return None
        return unescape(escaped)

    @staticmethod
    def user_member(key: SessionKey) -> str:
        """The session's member in its user index."""
        return escape(key.session_id)

    @staticmethod
    def app_member(key: SessionKey) -> str:
        """The session's member in its app index."""
        return f"{escape(key.user_id)}:{escape(key.session_id)}"


def check_prefix(prefix: str) -> str:
    """A usable key prefix: non-empty UTF-8 text without hash-tag braces, else ``InvalidOption``."""
    if not prefix:
        raise InvalidOption("redis option prefix must not be empty")
    try:
        prefix.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidOption(f"redis option prefix={prefix!r} is not valid unicode") from None
    if "{" in prefix or "}" in prefix:
        raise InvalidOption(
            f"prefix {prefix!r} contains '{{' or '}}', which would change the cluster hash "
            "slot of every key; pick a prefix without braces"
        )
    return prefix
