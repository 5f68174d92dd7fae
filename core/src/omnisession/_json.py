"""Strict JSON encoding shared by every backend.

Payloads must round-trip exactly, so encoding is strict: no NaN/Infinity, only
string keys, only JSON types. A failure raises :class:`InvalidEntry` *before*
any backend writes anything.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Sequence
from typing import Any

from .errors import InvalidEntry

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_decoder = json.JSONDecoder()
_decode = _decoder.decode
# the C scanner, without decode()'s two whitespace regexes
_scan = json.scanner.make_scanner(_decoder)  # type: ignore[arg-type]  # (typeshed)


def dumps(value: Any, *, what: str = "entry") -> str:
    """Encode ``value`` as compact JSON text, or raise :class:`InvalidEntry`."""
    try:
        return _encoder.encode(_check_keys(value))
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidEntry(
            f"{what} is not JSON-serialisable ({exc}); convert it to dicts, lists, str, int, "
            "float, bool and None before storing it"
        ) from exc


def loads(text: str | bytes) -> Any:
    """Decode JSON text produced by :func:`dumps`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):  # not compact JSON text alone: decode() says what is wrong
        return _decode(text)
    return value


def loads_all(texts: Sequence[str]) -> list[Any]:
    """Decode many JSON texts produced by :func:`dumps`, scanned at once as one array.

    One scan of ``[t1,t2,...]`` costs a fraction of a call per text. Should a
    text not be one JSON value, they are decoded one by one, so the error
    names the text at fault.
    """
    values = loads("[" + ",".join(texts) + "]")
    if not isinstance(values, list) or len(values) != len(texts):
        return [loads(text) for text in texts]
    return values


def dumps_object(value: Any, *, what: str = "entry") -> str:
    """Like :func:`dumps`, but the value must be a JSON object (a ``dict``)."""
    if not isinstance(value, dict):
        raise InvalidEntry(f"{what} must be a dict (a JSON object), got {type(value).__name__}")
    return dumps(value, what=what)


def _check_keys(value: Any) -> Any:
    # json silently turns int/float/bool/None keys into strings, which would not
    # round-trip; reject them instead.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"key {key!r} is a {type(key).__name__}, JSON keys must be str")
                stack.append(child)
        elif isinstance(item, (list, tuple)):
            if isinstance(item, tuple):
                raise TypeError("tuples do not round-trip through JSON; use a list")
            stack.extend(item)
    return value
