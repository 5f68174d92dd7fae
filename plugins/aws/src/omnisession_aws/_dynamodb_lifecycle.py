"""Purge, erase and list apps on the ``dynamodb://`` table (blocking, bulk work).

* **Purge** (``_delete_idle``): one ``DeleteItem`` of each meta item with
  ``ConditionExpression uat < :cutoff`` and ``ReturnValues=ALL_OLD``: a session
  written after the cutoff fails the condition and stays, whatever the race;
  a deleted one's event partition (and chunks) is removed next.
* **Erase** (``_erase``): the scope items carry ``ver``, which every write to
  them adds 1 to. An erase reads the versions of the scopes it will delete,
  deletes every session the listing index shows (and their events), then
  deletes each scope only if its ``ver`` is still the one read. A create that
  wrote ``app:`` / ``user:`` state during the erase changed ``ver``, so the
  scope delete fails and the erase goes round again: it then sees that
  session too. Either the racing session is erased with its scope, or it was
  created after the erase looked and is kept whole with it: no orphan scope.
* **List apps**: a ``Scan`` of the ``by_app`` index (sessions and scopes),
  projected to the app name.
* **Sweep**: a ``Scan`` for event partitions no live meta item names (DynamoDB's
  TTL deletes an expired session's meta item only) and chunks no live event uses.

On AWS the listing indexes are eventually consistent: a session created a
moment (typically well under a second) before an erase may not be listed yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from omnisession.errors import BackendUnavailable
from omnisession.model import SessionKey, now

from ._common import component
from ._dynamodb_entries import blob_ids
from ._dynamodb_io import TableIO
from ._dynamodb_layout import (
    META,
    SCOPE_MARK,
    STATE,
    app_pk,
    comparable,
    group_rows,
    integer_of,
    luser,
    meta_of,
    number_attr,
    session_pk,
    text_attr,
    user_pk,
)
from ._errors import error_code

__all__ = ["Lifecycle", "Swept"]

#: Rounds an erase makes before giving up because writers keep racing it.
MAX_ERASE_ROUNDS = 50


@dataclass
class Swept:
    """What a sweep deleted."""

    partitions: int = 0
    """Event partitions no live session names (expired, or left by a crash)."""
    chunks: int = 0
    """Large texts no live event uses."""
    items: int = 0
    """Items deleted in all."""


@dataclass
class _Partition:
    owner: str | None = None
    written: float = 0.0
    keys: list[dict[str, Any]] = field(default_factory=list)
    blobs: set[str] = field(default_factory=set)


@dataclass
class _Chunk:
    written: float = 0.0
    keys: list[dict[str, Any]] = field(default_factory=list)


class Lifecycle:
    """Bulk deletes and listings on one table; ``reclaim(inc)`` removes an event partition."""

    def __init__(
        self,
        table: TableIO,
        reclaim: Callable[[str], None],
        forget: Callable[[SessionKey], None],
    ) -> None:
        self._table = table
        self._reclaim = reclaim
        self._forget = forget

    def _delete_meta(self, key: SessionKey, **condition: Any) -> bool:
        """Delete a meta item (under ``condition``); whether a live session went with it."""
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        try:
            response = self._table.client.delete_item(
                TableName=self._table.table,
                Key={"pk": text_attr(session_pk(key)), "sk": text_attr(META)},
                ReturnValues="ALL_OLD",
                **condition,
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        self._forget(key)
        meta = meta_of(response.get("Attributes"))
        if meta is None:
            return False
        self._reclaim(meta.inc)
        return meta.live(now())

    def delete_session(self, key: SessionKey) -> None:
        self._delete_meta(key)

    def delete_idle(self, keys: list[SessionKey], updated_before: float) -> int:
        condition = {
            "ConditionExpression": "uat < :cutoff",
            "ExpressionAttributeValues": {":cutoff": number_attr(comparable(updated_before))},
        }
        return sum(self._delete_meta(key, **condition) for key in keys)

    # -- erase ------------------------------------------------------------------------

    def _index(self, index: str, attribute: str, value: str, **kwargs: Any) -> Iterator[Any]:
        return self._table.query(
            IndexName=index,
            KeyConditionExpression="#k = :v AND #u " + kwargs.pop("sort", "< :mark"),
            ExpressionAttributeNames={"#k": attribute, "#u": "lupd"},
            ExpressionAttributeValues={":v": text_attr(value), ":mark": text_attr(SCOPE_MARK)},
            **kwargs,
        )

    def _session_keys(self, app_name: str, user_id: str | None) -> list[SessionKey]:
        if user_id is None:
            items = self._index("by_app", "lapp", component(app_name))
        else:
            items = self._index("by_user", "luser", luser(app_name, user_id))
        keys = []
        for item in items:
            if item.get("app", {}).get("S") != app_name:
                continue
            if user_id is not None and item.get("user", {}).get("S") != user_id:
                continue
            keys.append(SessionKey(app_name, item["user"]["S"], item["sid"]["S"]))
        return keys

    def _scope_pks(self, app_name: str, user_id: str | None) -> set[str]:
        if user_id is not None:
            return {user_pk(app_name, user_id)}
        found = {app_pk(app_name)}
        for item in self._index("by_app", "lapp", component(app_name), sort=">= :mark"):
            if item.get("app", {}).get("S") == app_name and item["pk"]["S"].startswith("u|"):
                found.add(item["pk"]["S"])
        return found

    def _versions(self, pks: set[str]) -> dict[str, int | None]:
        """Each scope's ``ver`` (``-1``: the item exists without one; ``None``: missing)."""
        items = self._table.batch_get([{"pk": text_attr(pk), "sk": text_attr(STATE)} for pk in pks])
        versions: dict[str, int | None] = dict.fromkeys(pks)
        for item in items:
            versions[item["pk"]["S"]] = integer_of(item["ver"]) if "ver" in item else -1
        return versions

    def _delete_scope(self, pk: str, version: int | None) -> bool:
        """Delete a scope item if no write touched it since ``version`` was read."""
        from botocore.exceptions import ClientError

        condition: dict[str, Any]
        if version is None:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        elif version < 0:
            condition = {"ConditionExpression": "attribute_not_exists(ver)"}
        else:
            condition = {
                "ConditionExpression": "ver = :ver",
                "ExpressionAttributeValues": {":ver": number_attr(version)},
            }
        try:
            self._table.client.delete_item(
                TableName=self._table.table,
                Key={"pk": text_attr(pk), "sk": text_attr(STATE)},
                **condition,
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def erase(self, app_name: str, user_id: str | None) -> int:
        deleted = 0
        for _ in range(MAX_ERASE_ROUNDS):
            versions = self._versions(self._scope_pks(app_name, user_id))
            for key in self._session_keys(app_name, user_id):
                deleted += self._delete_meta(key)
            settled = all([self._delete_scope(pk, version) for pk, version in versions.items()])
            if settled and not (self._scope_pks(app_name, user_id) - set(versions)):
                return deleted
        raise BackendUnavailable(
            f"erasing {'user ' + repr(user_id) + ' of ' if user_id else ''}app {app_name!r}: "
            f"writers kept changing its scopes for {MAX_ERASE_ROUNDS} rounds; retry when "
            "they have stopped"
        )

    # -- sweep ------------------------------------------------------------------------

    def sweep(self, grace: float) -> Swept:
        """Delete event partitions no live meta item names and chunks no live event uses.

        What TTL leaves: DynamoDB's sweep deletes an expired session's meta item only.
        Also what a crash between a commit and its clean-up leaves. Items staged for a
        write (chunks, a copied partition) less than ``grace`` seconds ago are kept: they
        may belong to a write still under way. Partitions written before their groups
        named their owner (omnisession-aws 0.1) are never touched.
        """
        cutoff = now() - grace
        partitions: dict[str, _Partition] = {}
        chunks: dict[str, _Chunk] = {}
        for item in self._table.scan(
            FilterExpression="begins_with(pk, :e) OR begins_with(pk, :b)",
            ExpressionAttributeValues={":e": text_attr("e|"), ":b": text_attr("b|")},
        ):
            key = {"pk": item["pk"], "sk": item["sk"]}
            written = float(item["w"]["N"]) if "w" in item else 0.0
            if item["pk"]["S"].startswith("b|"):
                chunk = chunks.setdefault(item["pk"]["S"][2:], _Chunk())
                chunk.keys.append(key)
                chunk.written = max(chunk.written, written)
                continue
            partition = partitions.setdefault(item["pk"]["S"][2:], _Partition())
            partition.keys.append(key)
            partition.written = max(partition.written, written)
            if "o" in item:
                partition.owner = item["o"]["S"]
            partition.blobs.update(blob_ids(group_rows(item)))
        owners = sorted({part.owner for part in partitions.values() if part.owner})
        metas = self._table.batch_get(
            [{"pk": text_attr(owner), "sk": text_attr(META)} for owner in owners]
        )
        at = now()
        live = {
            meta.inc
            for meta in (meta_of(item) for item in metas)
            if meta is not None and meta.live(at)
        }
        used: set[str] = set()
        doomed: list[dict[str, Any]] = []
        swept = Swept()
        for inc, partition in partitions.items():
            if inc in live or partition.owner is None or partition.written >= cutoff:
                used |= partition.blobs
                continue
            doomed += partition.keys
            swept.partitions += 1
        for blob, chunk in chunks.items():
            if blob not in used and chunk.written < cutoff:
                doomed += chunk.keys
                swept.chunks += 1
        self._table.batch_delete(doomed)
        swept.items = len(doomed)
        return swept

    # -- apps -------------------------------------------------------------------------

    def app_names(self) -> list[str]:
        names: set[str] = set()
        at = now()
        for item in self._table.scan(
            IndexName="by_app",
            ProjectionExpression="#a, #e",
            ExpressionAttributeNames={"#a": "app", "#e": "exp"},
        ):
            if "app" not in item:
                continue
            if "exp" in item and float(item["exp"]["N"]) <= at:
                continue  # an expired session (scopes never expire)
            names.add(item["app"]["S"])
        return sorted(names)
