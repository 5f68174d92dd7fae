"""Delete, purge, erase and list apps on an ``s3://`` store (blocking, bulk work).

* **Delete / purge**: ``DeleteObject`` of the head with ``If-Match`` its ETag
  (for a purge: of a head whose ``updated_at`` is before the cutoff), so a
  session written meanwhile is never deleted; then its segments and its
  listing entry go.
* **Erase**: reads the ETags of the scope objects it will delete, deletes every
  object under the user's (or the app's) session folder and their listing
  entries, then deletes each scope object only if its ETag is unchanged, and
  goes round again until nothing changed under it. A racing write's scope
  update can land *after* the erase is done (it follows that write's head
  commit): the write then finds its head gone and takes its scope values back
  (``S3Store._apply_scopes``).
* **List apps**: ``ListObjectsV2`` with ``Delimiter="/"`` over the session,
  app-scope and user-scope folders.
"""

from __future__ import annotations

from collections.abc import Callable

from omnisession import backend as codec
from omnisession.errors import BackendUnavailable
from omnisession.model import SessionKey

from ._common import backoff, component, decode_component
from ._s3_io import BucketIO
from ._s3_layout import ID_LIMIT, Head, Keys

__all__ = ["Lifecycle"]

#: Rounds an erase (or a conditional delete) makes before giving up on racing writers.
MAX_ROUNDS = 50


class Lifecycle:
    """Bulk deletes and listings under one prefix."""

    def __init__(
        self,
        bucket: BucketIO,
        keys: Keys,
        load: Callable[[SessionKey], Head | None],
        forget: Callable[[SessionKey], None],
    ) -> None:
        self._bucket = bucket
        self._keys = keys
        self._head = load
        self._forget = forget

    def _delete_if(self, key: SessionKey, keep: Callable[[Head], bool]) -> bool:
        """Delete the session unless ``keep(head)``; whether it was deleted."""
        for attempt in range(MAX_ROUNDS):
            head = self._head(key)
            if head is None or keep(head):
                return False
            if self._bucket.delete(self._keys.head(key), if_match=head.etag):
                self._forget(key)
                garbage = [self._keys.segment(key, segment.name) for segment in head.segments]
                self._bucket.delete_many([*garbage, head.index_key])
                return True
            backoff(attempt)
        raise BackendUnavailable(
            f"session {key} kept changing while it was being deleted; retry later"
        )

    def delete_session(self, key: SessionKey) -> None:
        self._delete_if(key, lambda head: False)

    def delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        return sum(
            self._delete_if(key, lambda head: head.updated_at >= updated_before) for key in keys
        )

    # -- erase ------------------------------------------------------------------------

    def _scope_keys(self, app_name: str, user_id: str | None) -> set[str]:
        if user_id is not None:
            return {self._keys.user_scope(app_name, user_id)}
        return {self._keys.app_scope(app_name)} | set(
            self._bucket.keys(self._keys.user_scopes_dir(app_name))
        )

    def _index_entries(self, app_name: str, user_id: str | None) -> list[str]:
        """The listing entries of the app (of one user), stale ones included."""
        user_part = None if user_id is None else component(user_id, ID_LIMIT)
        return [
            index_key
            for index_key in self._bucket.keys(self._keys.index_dir(app_name))
            if user_part is None or self._keys.index_parts(app_name, index_key)[1:2] == [user_part]
        ]

    def erase(self, app_name: str, user_id: str | None) -> int:
        deleted = 0
        folder = self._keys.sessions_dir(app_name, user_id)
        for _ in range(MAX_ROUNDS):
            etags = {key: self._bucket.etag(key) for key in self._scope_keys(app_name, user_id)}
            objects = list(self._bucket.keys(folder))
            heads = [key for key in objects if key.endswith("/head")]
            self._bucket.delete_many(objects)
            self._bucket.delete_many(self._index_entries(app_name, user_id))
            deleted += len(heads)
            settled = True
            for key, etag in etags.items():
                if etag is None:
                    settled = settled and self._bucket.etag(key) is None
                else:
                    settled = self._bucket.delete(key, if_match=etag) and settled
            appeared = self._scope_keys(app_name, user_id) - set(etags)
            if settled and not appeared and next(iter(self._bucket.keys(folder)), None) is None:
                return deleted
        raise BackendUnavailable(
            f"erasing {'user ' + repr(user_id) + ' of ' if user_id else ''}app {app_name!r}: "
            f"writers kept changing it for {MAX_ROUNDS} rounds; retry when they have stopped"
        )

    # -- apps -------------------------------------------------------------------------

    def app_names(self) -> list[str]:
        names: set[str] = set()
        prefix = self._keys.prefix
        for folder, is_object in (("s/", False), ("a/", True), ("u/", False)):
            for child in self._bucket.children(prefix + folder):
                encoded = child.rstrip("/")
                name = decode_component(encoded)
                if name is None:  # a hashed id: read it from an object under it
                    name = self._name_under(prefix + folder + child, is_object)
                if name is not None:
                    names.add(name)
        return sorted(names)

    def _name_under(self, path: str, is_object: bool) -> str | None:
        key = path if is_object else next(iter(self._bucket.keys(path)), None)
        if key is None:
            return None
        got = self._bucket.get(key)
        if got is None:
            return None
        if key.endswith("/head"):
            app: str = codec.loads(got[0])["key"][0]
            return app
        if "/seg/" in key:  # a segment: read its session's head instead
            head_key = key.rsplit("/seg/", 1)[0] + "/head"
            head = self._bucket.get(head_key)
            return None if head is None else str(codec.loads(head[0])["key"][0])
        named: str | None = codec.loads(got[0]).get("app")
        return named
