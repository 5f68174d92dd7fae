"""How a :class:`~omnisession.SessionKey` is spelled as a service's ids.

:class:`PlainIds` passes ids through (escaping the few a service would alter);
:class:`HashedIds` hashes the whole key into one short session id.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from google.adk.sessions.session import Session as ADKSession

from .. import _json
from ..errors import InvalidKey
from ..model import SessionKey
from ._records import META_KEY


class ServiceIds(Protocol):
    """How a :class:`SessionKey` is spelled in a service, injectively.

    ``to_service`` gives the ``(app_name, user_id, session_id)`` passed to the
    service and ``user_to_service`` the user id alone (for user-state reads and
    listings); ``from_service`` maps a session the service listed for
    ``app_name`` back to its key, or ``None`` when it is not one of this
    store's sessions of that app. Every session this store creates carries its
    key in its bookkeeping state, which ``from_service`` may use.
    ``app_anchor`` names the bookkeeping session that keeps an app's state
    readable (see :class:`ADKServiceStore`), or ``None`` where the service
    has no shared app state to read. An implementation may also define
    ``user_anchor(app_name, user_id)``: the bookkeeping session through which
    ``update_user_state`` writes a user's scope (``None``: not possible).
    """

    def to_service(self, key: SessionKey) -> tuple[str, str, str]: ...

    def user_to_service(self, user_id: str) -> str: ...

    def from_service(self, app_name: str, session: ADKSession) -> SessionKey | None: ...

    def app_anchor(self, app_name: str) -> tuple[str, str, str] | None: ...


def _escape(ident: str, *, strip_safe: bool) -> str:
    if ident.startswith("~") or (strip_safe and ident != ident.strip()):
        return "~" + ident.encode("utf-8").hex()
    return ident


def _unescape(ident: str) -> str | None:
    if not ident.startswith("~"):
        return ident
    try:
        return bytes.fromhex(ident[1:]).decode("utf-8") or None
    except (ValueError, UnicodeDecodeError):
        return None


class PlainIds:
    """Ids passed through, except a few a service would alter or that are reserved.

    ADK's in-memory and SQLite services ``strip()`` session ids, so ``" a"`` and
    ``"a"`` would collide: such session ids are stored as ``~`` plus their
    UTF-8 hex. Ids starting with ``~`` (session or user) are stored the same
    way, which keeps the mapping injective and leaves the bare ``~`` free for
    the bookkeeping sessions: ``(app_name, "~", "~")`` per app and
    ``(app_name, user_id, "~")`` per user whose scope was written on its own.
    Every other id is stored as itself, so ADK tools show the sessions under
    their own names, and sessions ADK's own Runner wrote read back under
    theirs. ``anchors=False`` for a service without shared scopes (Vertex AI,
    whose ids cannot hold ``~`` either).
    """

    def __init__(self, *, anchors: bool = True) -> None:
        self._anchors = anchors

    def to_service(self, key: SessionKey) -> tuple[str, str, str]:
        return (
            key.app_name,
            self.user_to_service(key.user_id),
            _escape(key.session_id, strip_safe=True),
        )

    def user_to_service(self, user_id: str) -> str:
        return _escape(user_id, strip_safe=False)

    def from_service(self, app_name: str, session: ADKSession) -> SessionKey | None:
        user, sid = _unescape(session.user_id), _unescape(session.id)
        if user is None or sid is None:
            return None
        try:
            return SessionKey(app_name, user, sid)
        except InvalidKey:
            return None

    def app_anchor(self, app_name: str) -> tuple[str, str, str] | None:
        return (app_name, "~", "~") if self._anchors else None

    def user_anchor(self, app_name: str, user_id: str) -> tuple[str, str, str] | None:
        return (app_name, self.user_to_service(user_id), "~") if self._anchors else None


class HashedIds:
    """The whole key hashed into one short ``[a-z0-9]`` session id.

    For services whose ids are restricted and global: the Vertex AI Agent
    Engine keeps every app's and every user's sessions in one namespace,
    ignores ``app_name`` and accepts only short ``[A-Za-z0-9_-]`` ids. The id
    is ``os`` plus 40 hex digits of the SHA-256 of ``[app_name, user_id,
    session_id]`` (160 bits: distinct keys do not collide in practice); the key
    itself is read back from the session's bookkeeping state.
    """

    def to_service(self, key: SessionKey) -> tuple[str, str, str]:
        text = _json.dumps([key.app_name, key.user_id, key.session_id]).encode("utf-8")
        return key.app_name, key.user_id, "os" + hashlib.sha256(text).hexdigest()[:40]

    def user_to_service(self, user_id: str) -> str:
        return user_id

    def app_anchor(self, app_name: str) -> tuple[str, str, str] | None:
        # The Agent Engine has no app scope: an anchor would only see itself.
        return None

    def user_anchor(self, app_name: str, user_id: str) -> tuple[str, str, str] | None:
        return None

    def from_service(self, app_name: str, session: ADKSession) -> SessionKey | None:
        raw = session.state.get(META_KEY)
        stored = raw.get("key") if isinstance(raw, dict) else None
        if not (isinstance(stored, list) and len(stored) == 3 and stored[0] == app_name):
            return None
        try:
            key = SessionKey(*stored)
        except (InvalidKey, TypeError):
            return None
        if key.user_id != session.user_id or self.to_service(key)[2] != session.id:
            return None
        return key
