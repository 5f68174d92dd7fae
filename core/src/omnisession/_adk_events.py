"""ADK ``Event`` objects as stored JSON, and back: exactly, and fast.

:func:`encode_event` keeps every field that is set; :func:`decode_event`
rebuilds the very same ``Event``, several times faster than
``Event.model_validate`` (see :class:`_FastEventDecoder`); :func:`decode_events`
decodes a whole history with the cyclic garbage collector paused.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

from google.adk.events.event import Event as AdkEvent
from pydantic_core import PydanticSerializationError, SchemaValidator, to_jsonable_python

from .errors import InvalidEntry
from .model import Event, JSONObject

__all__ = ["decode_event", "decode_events", "encode_event"]


def encode_event(event: AdkEvent) -> JSONObject:
    """The JSON object stored for ``event``: every field that is set, by field name.

    ``mode="json"`` turns bytes into base64 and sets into sorted lists, which
    :func:`decode_event` turns back; ``exclude_none`` drops only fields whose
    value is ``None`` (every such field defaults to ``None``, so nothing is
    lost). Rich state values (datetimes, pydantic models) become JSON as in
    ADK's ``DatabaseSessionService``; a value with no JSON form (a callable,
    an arbitrary object) raises ``InvalidEntry`` here, before anything is
    written, where ADK would silently store its ``repr()``.
    """
    try:
        if event.actions and event.actions.state_delta:
            # ADK's own serializer would store an unserialisable value as its
            # repr() with a warning; refuse it instead, before any write.
            to_jsonable_python(event.actions.state_delta)
        return event.model_dump(mode="json", exclude_none=True)
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise InvalidEntry(
            f"event {event.id!r} cannot be stored as JSON ({exc}); keep state values and tool "
            "results to dicts, lists, str, int, float, bool, None, bytes and pydantic models"
        ) from exc


class _FastEventDecoder:
    """Decodes stored event dicts into ``Event`` objects without ADK's Python hooks.

    ``Event.model_validate`` runs three Python-level hooks for every event,
    which dominate the cost of loading a long session: ``Event``'s
    convenience-kwargs router (a no-op for stored data, whose keys are field
    names), google-genai's per-model type-mismatch *warning* hook (a no-op for
    data we encoded), and ``Part``'s custom ``__init__`` (which only handles a
    positional shorthand stored data never uses). This decoder validates with
    a copy of ``Event``'s schema without those three, so it builds exactly
    the same objects (``tests/adk`` checks equality with ``model_validate``)
    several times faster. If the schema cannot be rebuilt (a future
    google-adk), it falls back to ``Event.model_validate``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._validate: Callable[[Any], Any] | None = None

    def __call__(self, data: JSONObject) -> AdkEvent:
        if not _CONVENIENCE_KEYS.isdisjoint(data):
            # Written by someone else with ADK's shorthand keys: let ADK route them.
            return AdkEvent.model_validate(data)
        validate = self._validate
        if validate is None:
            validate = self._build()
        try:
            return cast(AdkEvent, validate(data))
        except Exception:
            # Re-run the reference path so the error (or a legacy payload that
            # needs ADK's hooks) is handled exactly as ADK handles it.
            return AdkEvent.model_validate(data)

    def _build(self) -> Callable[[Any], Any]:
        with self._lock:
            if self._validate is None:
                try:
                    self._validate = _fast_validator().validate_python
                except Exception:  # pragma: no cover - depends on the installed pydantic
                    self._validate = AdkEvent.model_validate
            return self._validate


def _fast_validator() -> SchemaValidator:
    from google.genai import _common

    AdkEvent.model_validate({})  # make sure every nested schema is built
    skip = {
        _common.BaseModel._check_field_type_mismatches.__func__,
        AdkEvent._accept_convenience_kwargs.__func__,
    }
    classes: set[type] = set()

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "model":
                classes.add(node["cls"])
                if node.get("custom_init"):
                    node = {**node, "custom_init": False}
            elif kind == "function-before":
                function = getattr(node.get("function", {}).get("function"), "__func__", None)
                if function in skip:
                    return rewrite(node["schema"])
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    schema = rewrite(AdkEvent.__pydantic_core_schema__)
    # pydantic-core reuses a complete model's own validator for nested models
    # ("prebuilt" validators), which would bring the hooks back; mark the
    # classes incomplete only while building, then restore them exactly.
    saved = {cls: cls.__dict__.get("__pydantic_complete__", _MISSING) for cls in classes}
    try:
        for cls in classes:
            type.__setattr__(cls, "__pydantic_complete__", False)
        return SchemaValidator(schema, AdkEvent.model_config)  # type: ignore[arg-type]
    finally:
        for cls, value in saved.items():
            if value is _MISSING:
                type.__delattr__(cls, "__pydantic_complete__")
            else:
                type.__setattr__(cls, "__pydantic_complete__", value)


_MISSING = object()
#: Keys ``Event``'s before-validator routes to nested fields (``message`` -> content, ...).
_CONVENIENCE_KEYS = frozenset({"message", "state", "route", "node_path"})
_GC_PAUSE_THRESHOLD = 256
_decoder = _FastEventDecoder()
# Built now, at import (normally single-threaded), rather than on the first
# load, so the brief schema surgery never overlaps another thread's work.
_decoder._build()


def decode_event(data: JSONObject) -> AdkEvent:
    """The ``Event`` that :func:`encode_event` stored as ``data``."""
    return _decoder(data)


def decode_events(events: Sequence[Event]) -> list[AdkEvent]:
    """Decode a history; the cyclic GC is paused meanwhile (see below)."""
    decode = _decoder
    if len(events) < _GC_PAUSE_THRESHOLD or not gc.isenabled():
        return [decode(event.data) for event in events]
    # Decoding allocates a dozen container objects per event, none of them in
    # a reference cycle; with the collector on, a long history triggers
    # collection after collection that re-scans everything decoded so far,
    # which costs more than decoding itself. Pausing it for the loop is what
    # makes loading 10,000 events as fast as ADK's in-memory service.
    gc.disable()
    try:
        return [decode(event.data) for event in events]
    finally:
        gc.enable()
