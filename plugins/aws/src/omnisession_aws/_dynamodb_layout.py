"""The item layout of the ``dynamodb://`` table: keys, attributes and their encoding.

Single-table layout (string keys ``pk`` / ``sk``)::

    pk = "s|APP|USER|SESSION"   sk = "meta"     the session: revision, next_seq, created/updated,
                                                 inc (the id of its event partition), state
                                                 (one attribute "$KEY" = JSON per session key),
                                                 listing keys lapp / luser / lupd, exp (TTL)
    pk = "a|APP"                sk = "state"    app scope, "$KEY" = JSON
    pk = "u|APP|USER"           sk = "state"    user scope, "$KEY" = JSON
    pk = "e|INC"                sk = "g|SEQ"    a group of consecutive events written by one
                                                 write (SEQ = first seq, zero-padded): ts, d = [...]
    pk = "b|BLOB"               sk = "NNNNNN"   chunks of one entry too large to inline

``APP``/``USER``/``SESSION`` are percent-encoded (or hashed when long) by
:func:`omnisession_aws._common.component`, so distinct ids never collide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omnisession import backend as codec
from omnisession.model import JSONObject, SessionKey

from ._common import component

_SEQ_WIDTH = 20
_META = "meta"
_STATE = "state"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _num(attr: Mapping[str, str]) -> float:
    return float(attr["N"])


def _int(attr: Mapping[str, str]) -> int:
    return int(attr["N"])


def _seq_sk(seq: int) -> str:
    return f"g|{seq:0{_SEQ_WIDTH}d}"


def _lupd(updated_at: float) -> str:
    return f"{updated_at:020.6f}"


def _session_pk(key: SessionKey) -> str:
    return f"s|{component(key.app_name)}|{component(key.user_id)}|{component(key.session_id)}"


def _app_pk(app_name: str) -> str:
    return f"a|{component(app_name)}"


def _user_pk(app_name: str, user_id: str) -> str:
    return f"u|{component(app_name)}|{component(user_id)}"


def _luser(app_name: str, user_id: str) -> str:
    return f"{component(app_name)}|{component(user_id)}"


def _scope_attrs(item: Mapping[str, Any] | None) -> JSONObject:
    """The un-prefixed state dict stored as ``$KEY`` attributes of an item."""
    if not item:
        return {}
    return {name[1:]: codec.loads(value["S"]) for name, value in item.items() if name[0] == "$"}


def _set_clause(
    scope: Mapping[str, Any], names: dict[str, str], values: dict[str, Any], tag: str
) -> list[str]:
    clauses = []
    for index, (state_key, value) in enumerate(scope.items()):
        names[f"#{tag}{index}"] = "$" + state_key
        values[f":{tag}{index}"] = _s(codec.dumps(value, what="state"))
        clauses.append(f"#{tag}{index} = :{tag}{index}")
    return clauses


@dataclass
class _Meta:
    rev: int
    next_seq: int
    inc: str
    created_at: float
    updated_at: float
    item: dict[str, Any]
