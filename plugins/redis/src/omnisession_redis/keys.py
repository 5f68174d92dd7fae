"""The key layout: escaping and hash tags.

Every id is percent-encoded (``urllib.parse.quote(id, safe="")``), so an
escaped id contains only ``A-Z a-z 0-9 _ . - ~ %``: never ``:``, ``{`` or
``}``. Percent-encoding is injective, and ``:`` separates escaped ids, so two
distinct keys can never produce the same Redis key, and an id can never open
or close a hash tag.

Layout (``P`` is the configured prefix, ``A``/``U``/``S`` the escaped ids)::

    P:s:{A:U:S}:m    HASH  session meta: c created_at, u updated_at, r revision, n last seq
    P:s:{A:U:S}:st   HASH  session state: key -> JSON value
    P:s:{A:U:S}:e    ZSET  events: score seq, member "seq timestamp json"
    P:s:{A:U:S}:t    ZSET  event times: score timestamp, member seq (for ``since``)
    P:u:{A:U}:st     HASH  user state
    P:u:{A:U}:ix     ZSET  the user's sessions: member S, score updated_at
    P:a:{A}:st       HASH  app state
    P:a:{A}:ix       ZSET  the app's sessions: member U:S, score updated_at

The four keys of a session share the hash tag ``{A:U:S}`` and so one cluster
slot; user keys share ``{A:U}``, app keys ``{A}``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import quote, unquote

from omnisession.model import SessionKey

__all__ = ["DEFAULT_PREFIX", "KeyLayout", "escape", "scope_state", "unescape"]

DEFAULT_PREFIX = "omnisession"


@functools.lru_cache(maxsize=8192)  # every write builds eight keys from the same few ids
def escape(ident: str) -> str:
    """Percent-encode every byte of ``ident`` except ``A-Za-z0-9_.-~``."""
    return quote(ident, safe="")


def unescape(text: str) -> str:
    """Inverse of :func:`escape`."""
    return unquote(text, errors="strict")


def scope_state(index: str) -> str:
    """The state key of the (user or app) scope whose index key is ``index``."""
    return index[: -len("ix")] + "st"


def check_prefix(prefix: object) -> str:
    """A usable key prefix: a non-empty str without hash-tag braces."""
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"prefix must be a non-empty str, got {prefix!r}")
    if "{" in prefix or "}" in prefix:
        raise ValueError(
            f"prefix {prefix!r} contains '{{' or '}}', which would change the cluster hash "
            "slot of every key; pick a prefix without braces"
        )
    return prefix


@dataclass(frozen=True)
class KeyLayout:
    """Builds every Redis key of one store from its prefix."""

    prefix: str = DEFAULT_PREFIX

    def session(self, key: SessionKey) -> list[str]:
        """``[meta, state, events, times]``, all in the session's slot."""
        base = (
            f"{self.prefix}:s:{{{escape(key.app_name)}:{escape(key.user_id)}:"
            f"{escape(key.session_id)}}}:"
        )
        return [base + "m", base + "st", base + "e", base + "t"]

    def user(self, app_name: str, user_id: str) -> list[str]:
        """``[state, index]`` of the (app, user) scope, in the user's slot."""
        base = f"{self.prefix}:u:{{{escape(app_name)}:{escape(user_id)}}}:"
        return [base + "st", base + "ix"]

    def app(self, app_name: str) -> list[str]:
        """``[state, index]`` of the app scope, in the app's slot."""
        base = f"{self.prefix}:a:{{{escape(app_name)}}}:"
        return [base + "st", base + "ix"]

    @staticmethod
    def user_member(key: SessionKey) -> str:
        """The session's member in its user index."""
        return escape(key.session_id)

    @staticmethod
    def app_member(key: SessionKey) -> str:
        """The session's member in its app index."""
        return f"{escape(key.user_id)}:{escape(key.session_id)}"
