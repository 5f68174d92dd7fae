"""Strict JSON encoding shared by every backend.

Payloads must round-trip exactly, so encoding is strict: no NaN/Infinity, only
string keys, only JSON types, and at most :data:`MAX_DEPTH` levels of nesting.
A failure raises :class:`InvalidEntry` *before* any backend writes anything.

The text :func:`dumps` returns is always valid UTF-8: a string holding a lone
surrogate (half of an emoji cut from a model's output) is written with a
``\\udxxx`` escape, which every driver can send and which decodes back to the
very same string.

Why a depth limit: CPython's JSON codec recurses once per level, so a value
nested ~1,000 deep encodes from a shallow stack but raises ``RecursionError``
when decoded from a deeper one (an agent runner, a web handler) and the
session could never be read again. :data:`MAX_DEPTH` (100, MySQL's own JSON
limit) leaves the reader ~900 frames of the interpreter's default 1,000; and
should older data nest deeper, :func:`loads` decodes it on a fresh thread's
stack instead of failing.
"""

from __future__ import annotations

import json
import json.scanner
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .errors import InvalidEntry

__all__ = ["MAX_DEPTH", "dumps", "dumps_object", "loads", "loads_all"]

MAX_DEPTH = 100
"""The deepest nesting of lists and objects a payload or a state may have.

A payload ``{"a": [1]}`` is 2 deep; a state value is counted inside its state
object, so it may be 99 deep. Checked when writing, on every backend."""

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_ascii_encoder = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))
_decoder = json.JSONDecoder()
_decode = _decoder.decode
# the C scanner, without decode()'s two whitespace regexes
_scan = json.scanner.make_scanner(_decoder)  # type: ignore[arg-type]  # (typeshed)


def dumps(value: Any, *, what: str = "entry") -> str:
    """Encode ``value`` as compact, UTF-8-safe JSON text, or raise :class:`InvalidEntry`.

    Works from any call stack: a value within :data:`MAX_DEPTH` that the C
    encoder cannot recurse into from a deep caller is encoded on a fresh
    thread's stack (as :func:`loads` decodes), never refused.
    """
    try:
        _check(value)
        text = _encode(_encoder, value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidEntry(
            f"{what} is not storable JSON ({exc}); convert it to dicts, lists, str, int, "
            f"float, bool and None, nested at most {MAX_DEPTH} levels, before storing it"
        ) from exc
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it
        return _encode(_ascii_encoder, value)
    return text


def _encode(encoder: json.JSONEncoder, value: Any) -> str:
    try:
        return encoder.encode(value)
    except RecursionError:
        # checked to be at most MAX_DEPTH deep: the caller's stack is what is deep
        text: str = _on_fresh_stack(encoder.encode, value)
        return text


def dumps_object(value: Any, *, what: str = "entry") -> str:
    """Like :func:`dumps`, but the value must be a JSON object (a ``dict``)."""
    if not isinstance(value, dict):
        raise InvalidEntry(f"{what} must be a dict (a JSON object), got {type(value).__name__}")
    return dumps(value, what=what)


def loads(text: str | bytes) -> Any:
    """Decode JSON text produced by :func:`dumps`, from any call stack."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        return _loads(text)
    except RecursionError:
        return _on_fresh_stack(_loads, text)


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


def _loads(text: str) -> Any:
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):  # not compact JSON text alone: decode() says what is wrong
        return _decode(text)
    return value


def _on_fresh_stack(work: Callable[[Any], Any], argument: Any) -> Any:
    """``work(argument)`` on a new thread, whose stack is empty (see the module doc)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, work(argument)))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append((False, exc))

    worker = threading.Thread(target=run, name="omnisession-deep-json")
    worker.start()
    worker.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _check(value: Any) -> None:
    """Reject what ``json`` would silently change, and nesting over :data:`MAX_DEPTH`.

    ``json`` turns int/float/bool/None keys into strings and tuples into
    lists, neither of which round-trips.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            for key, child in item.items():
                if not isinstance(key, str):
                    raise TypeError(f"key {key!r} is a {type(key).__name__}, JSON keys must be str")
                if isinstance(child, (dict, list, tuple)):
                    stack.append((child, depth))
        elif isinstance(item, (list, tuple)):
            if isinstance(item, tuple):
                raise TypeError("tuples do not round-trip through JSON; use a list")
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            for child in item:
                if isinstance(child, (dict, list, tuple)):
                    stack.append((child, depth))
