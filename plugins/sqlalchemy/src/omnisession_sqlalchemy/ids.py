"""How identifiers and state key names become the hashes every lookup uses.

Each hash is the SHA-256 hex digest of the JSON list of the identifiers
(``["app"]``, ``["app", "user"]``, ``["app", "user", "session"]``) or of the
JSON text of a state key name: fixed-size ASCII, compared exactly by every
engine, and distinct identifiers never share one.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omnisession.backend import dumps
from omnisession.model import SessionKey

__all__ = ["SessionIds", "app_hash", "scope_rows", "user_hash"]


@functools.lru_cache(maxsize=4096)  # the same few ids are hashed on every call
def _digest(*parts: str) -> str:
    return hashlib.sha256(dumps(list(parts)).encode("utf-8")).hexdigest()


def app_hash(app_name: str) -> str:
    return _digest(app_name)


def user_hash(app_name: str, user_id: str) -> str:
    return _digest(app_name, user_id)


@dataclass(frozen=True, slots=True)
class SessionIds:
    """A session key's hashes and names: the SQL parameters naming the session and its scopes."""

    key: SessionKey
    key_hash: str
    app_hash: str
    user_hash: str

    @staticmethod
    def of(key: SessionKey) -> SessionIds:
        return _session_ids(key)

    def lookup(self) -> dict[str, Any]:
        """Parameters of the statements that find the session and read its scopes."""
        return {"key_hash": self.key_hash, "app_hash": self.app_hash, "user_hash": self.user_hash}

    def row(self) -> dict[str, Any]:
        """Parameters of a new session row: the hashes and the names."""
        return {
            **self.lookup(),
            "app_name": self.key.app_name,
            "user_id": self.key.user_id,
            "session_id": self.key.session_id,
        }


@functools.lru_cache(maxsize=4096)  # every call of a store names its session
def _session_ids(key: SessionKey) -> SessionIds:
    return SessionIds(
        key,
        _digest(key.app_name, key.user_id, key.session_id),
        app_hash(key.app_name),
        user_hash(key.app_name, key.user_id),
    )


def scope_rows(
    app_name: str, user_id: str | None, values: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One upsert row per state key of the app scope (``user_id`` None) or a user scope.

    Sorted by ``name_hash``: two writers of the same keys lock them in the same
    order and cannot deadlock. Each row names its owner (app, and user), so
    scopes can be found without a session.
    """
    owner: dict[str, Any] = {"app_hash": app_hash(app_name), "app_name": app_name}
    if user_id is not None:
        owner.update(user_hash=user_hash(app_name, user_id), user_id=user_id)
    rows = []
    for name, value in values.items():
        name_text = dumps(name)
        rows.append(
            {
                **owner,
                "name_hash": hashlib.sha256(name_text.encode("utf-8")).hexdigest(),
                "name": name_text,
                "value": dumps(value),
            }
        )
    rows.sort(key=lambda row: row["name_hash"])
    return rows
