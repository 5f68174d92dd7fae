"""ADK ``Event`` objects as stored JSON, and back: exactly, and fast.

:func:`encode_event` keeps every field that is set; :func:`decode_event`
rebuilds the very same ``Event``, several times faster than
``Event.model_validate`` (see :class:`_FastEventDecoder`); :func:`decode_events`
decodes a whole history with the cyclic garbage collector paused.

Everything this package relies on inside google-adk and google-genai that is
not their public API goes through ONE adapter, :data:`UPSTREAM` (see
:class:`_Upstream`): each internal is looked up once, guarded, and when one
is missing the bridge falls back to a public (slower, or weaker) path instead
of failing. ``tests/adk/test_upstream_adapter.py`` asserts that every one of
them is found, so an upstream change fails that test loudly rather than
quietly slowing the bridge down.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from google.adk.events.event import Event as AdkEvent
from google.adk.sessions.base_session_service import BaseSessionService
from google.adk.sessions.session import Session
from pydantic_core import PydanticSerializationError, SchemaValidator, to_jsonable_python

from . import _json
from .errors import InvalidEntry
from .model import Event, JSONObject

__all__ = [
    "UPSTREAM",
    "decode_event",
    "decode_events",
    "encode_event",
    "json_state",
    "text_form",
]

logger = logging.getLogger("omnisession.adk")

_NO_JSON_ADVICE = (
    "keep state values to dicts, lists, str, int, float, bool, None, bytes, datetimes and "
    "pydantic models (put clients, dataframes and other live objects in temp: state, which "
    "is never stored)"
)


# -- the one adapter to upstream internals ------------------------------------------


class _Upstream:
    """Every google-adk / google-genai internal the bridge uses, looked up once, guarded.

    * ``Session._storage_update_marker``: the private attribute ADK's own
      persistent services carry a session's storage revision in (ADK reads it
      in ``DatabaseSessionService.append_event``); the bridge keeps the store
      revision there so a stale writer is detected. Without it, appends fall
      back to ADK's timestamp rule for session objects it did not load.
    * ``google.genai._common.BaseModel._check_field_type_mismatches`` and
      ``Event._accept_convenience_kwargs``: the two Python validators the
      fast decoder leaves out (see :class:`_FastEventDecoder`). Without
      either, events decode through ``Event.model_validate``: the same
      result, slower.
    * ``BaseSessionService._apply_temp_state``, ``_trim_temp_delta_state``
      and ``_commit_event_to_session``: the steps of ADK's own
      ``append_event`` that its services share (``temp:`` state reaches the
      caller's session object but not storage; the event joins the object).
      Without them the bridge runs its own copies of ADK 2.x's steps.

    :meth:`missing` names whatever was not found.
    """

    def __init__(self) -> None:
        self.has_marker = "_storage_update_marker" in getattr(Session, "__private_attributes__", {})
        self.genai_type_check = _unbound(_genai_base_model(), "_check_field_type_mismatches")
        self.event_convenience = _unbound(AdkEvent, "_accept_convenience_kwargs")
        self.service_steps = all(
            callable(getattr(BaseSessionService, name, None)) for name in _SERVICE_STEPS
        )

    def missing(self) -> list[str]:
        """The upstream internals not found (``[]`` when the bridge runs at full strength)."""
        gone = []
        if not self.has_marker:
            gone.append("google.adk.sessions.Session._storage_update_marker")
        if self.genai_type_check is None:
            gone.append("google.genai._common.BaseModel._check_field_type_mismatches")
        if self.event_convenience is None:
            gone.append("google.adk.events.Event._accept_convenience_kwargs")
        if not self.service_steps:
            gone.extend(
                f"google.adk.sessions.BaseSessionService.{name}"
                for name in _SERVICE_STEPS
                if not callable(getattr(BaseSessionService, name, None))
            )
        return gone

    def apply_temp_state(
        self, service: BaseSessionService, session: Session, event: AdkEvent
    ) -> None:
        """``temp:`` keys of the event's delta reach ``session.state`` (not storage)."""
        if self.service_steps:
            service._apply_temp_state(session, event)
            return
        for key, value in _delta(event).items():
            if key.startswith(_TEMP):
                session.state[key] = value

    def trim_temp_state(self, service: BaseSessionService, event: AdkEvent) -> AdkEvent:
        """The event without ``temp:`` keys in its delta (ADK trims the event itself)."""
        if self.service_steps:
            trimmed: AdkEvent = service._trim_temp_delta_state(event)
            return trimmed
        delta = _delta(event)
        if delta:
            event.actions.state_delta = {k: v for k, v in delta.items() if not k.startswith(_TEMP)}
        return event

    def commit_to_session(
        self, service: BaseSessionService, session: Session, event: AdkEvent
    ) -> AdkEvent:
        """The event's (non-temp) delta applied to ``session.state``, the event appended."""
        if self.service_steps:
            committed: AdkEvent = service._commit_event_to_session(session, event)
            return committed
        session.state.update(_delta(event))
        session.events.append(event)
        return event

    def marker(self, session: Session) -> str | None:
        """The storage marker ``session`` carries, ``None`` if none (or none can be kept)."""
        if not self.has_marker:
            return None
        value = getattr(session, "_storage_update_marker", None)
        return value if isinstance(value, str) else None

    def set_marker(self, session: Session, value: str) -> None:
        if self.has_marker:
            session._storage_update_marker = value


_SERVICE_STEPS = ("_apply_temp_state", "_trim_temp_delta_state", "_commit_event_to_session")
_TEMP = "temp:"


def _delta(event: AdkEvent) -> dict[str, Any]:
    actions = event.actions
    return dict(actions.state_delta) if actions is not None and actions.state_delta else {}


def _genai_base_model() -> type | None:
    try:
        from google.genai import _common
    except ImportError:  # pragma: no cover - depends on the installed google-genai
        return None
    base = getattr(_common, "BaseModel", None)
    return base if isinstance(base, type) else None


def _unbound(owner: type | None, name: str) -> Callable[..., Any] | None:
    """The plain function behind classmethod ``owner.name``, or ``None`` if it is gone."""
    if owner is None:
        return None
    function = getattr(getattr(owner, name, None), "__func__", None)
    return function if callable(function) else None


UPSTREAM = _Upstream()


# -- encoding ------------------------------------------------------------------------


def text_form(value: Any) -> Any:
    """What a value with no JSON form is stored as: ADK's own fallback, then ``str()``.

    ADK's persistent services serialise such a value with pydantic's
    ``serialize_unknown``: JSON types stay, each unknown leaf becomes its
    ``str()`` (and NaN ``null``, as in ADK's JSON of an event). When even
    that fails (bytes that are not UTF-8, nesting over the store's limit) the
    whole value becomes its ``str()``.
    """
    try:
        converted = to_jsonable_python(value, serialize_unknown=True, inf_nan_mode="null")
        _json.dumps(converted, what="state value")
        return converted
    except Exception:
        try:
            return str(value)
        except Exception:
            return f"<unprintable {type(value).__name__}>"


def json_state(
    values: Mapping[str, Any], *, strict: bool, what: str, check: bool = False
) -> dict[str, Any]:
    """``values`` as JSON (rich types made JSON as ADK does), or ``InvalidEntry``.

    A value with no JSON form (a client object, a dataframe, a callable):
    with ``strict`` it is refused with ``InvalidEntry`` naming the key, before
    anything is written; otherwise it is stored as its :func:`text_form` and a
    warning names the key, as ADK's ``DatabaseSessionService`` and
    ``SqliteSessionService`` do. ``check`` also holds the converted values to
    the store's JSON rules (finite numbers, nesting at most 100 deep), for
    state that goes to the store as it is.
    """
    try:
        converted = cast(dict[str, Any], to_jsonable_python(dict(values), inf_nan_mode="null"))
        if check:
            _json.dumps(converted, what=what)
        return converted
    except _NO_JSON:
        pass
    converted, bad = {}, []
    for key, value in values.items():
        try:
            item = _as_json(value, check)
        except _NO_JSON:
            bad.append(key)
            item = text_form(value)
        converted[key] = item
    if not bad:  # pragma: no cover - every value passed on its own
        return converted
    if strict:
        raise InvalidEntry(
            f"{what} {_key_list(bad)} cannot be stored as JSON ({_types(values, bad)}); "
            f"nothing was written. Pass JSON values or use temp: keys: {_NO_JSON_ADVICE}"
        )
    logger.warning(
        "%s %s cannot be stored as JSON (%s); stored as text instead, as ADK's "
        "DatabaseSessionService does. Pass strict_state=True to OmniSessionService "
        "to refuse such values; %s.",
        what,
        _key_list(bad),
        _types(values, bad),
        _NO_JSON_ADVICE,
    )
    return converted


_NO_JSON = (PydanticSerializationError, InvalidEntry, TypeError, ValueError, UnicodeError)


def _as_json(value: Any, check: bool) -> Any:
    """``value`` made JSON as ADK makes it; with ``check``, held to the store's rules too.

    NaN and infinities become ``null``, as they do in ADK's JSON of an event
    (and so in every stored event's ``state_delta``); a value that still
    breaks the rules (nesting deeper than the store's limit) raises.
    """
    item = to_jsonable_python(value, inf_nan_mode="null")
    if check:
        _json.dumps(item, what="state value")
    return item


def _key_list(keys: list[str]) -> str:
    return ", ".join(repr(key) for key in keys)


def _types(values: Mapping[str, Any], keys: list[str]) -> str:
    return ", ".join(f"{key!r} is a {type(values[key]).__name__}" for key in keys)


def encode_event(event: AdkEvent, *, strict: bool = True) -> JSONObject:
    """The JSON object stored for ``event``: every field that is set, by field name.

    ``mode="json"`` turns bytes into base64 and sets into sorted lists, which
    :func:`decode_event` turns back; ``exclude_none`` drops only fields whose
    value is ``None`` (every such field defaults to ``None``, so nothing is
    lost). Rich state values (datetimes, pydantic models) become JSON as in
    ADK's ``DatabaseSessionService``. A state value (``actions.state_delta``
    or ``actions.agent_state``) with no JSON form raises ``InvalidEntry``
    naming its key when ``strict``, and is stored as its text form with a
    warning otherwise (ADK's own behaviour, see :func:`json_state`). Anything
    else that is not JSON raises ``InvalidEntry``, as it fails in ADK.
    """
    actions = event.actions
    if actions is not None and (actions.state_delta or actions.agent_state):
        safe: dict[str, Any] = {}
        for field, what in (("state_delta", "state key"), ("agent_state", "agent_state key")):
            values = getattr(actions, field)
            if not values:
                continue
            try:
                to_jsonable_python(values)  # the common case: JSON already, nothing to do
            except _NO_JSON:
                safe[field] = json_state(values, strict=strict, what=f"event {event.id!r} {what}")
        if safe:
            # Dump a copy carrying the text forms, so ADK's own fallback (and its
            # generic warning) never runs, and the caller's event keeps its values.
            event = event.model_copy(update={"actions": actions.model_copy(update=safe)})
    try:
        return event.model_dump(mode="json", exclude_none=True)
    except (PydanticSerializationError, TypeError, ValueError) as exc:
        raise InvalidEntry(
            f"event {event.id!r} cannot be stored as JSON ({exc}); keep tool results and "
            "content to JSON types, bytes and pydantic models"
        ) from exc


def stored_state_delta(event: AdkEvent, encoded: JSONObject) -> JSONObject | None:
    """The delta ``event`` applies to the stored state, as ADK's persistent services apply it.

    They convert the live values with ``to_jsonable_python`` (bytes as UTF-8 text),
    while the event's own JSON (``encoded``, pydantic's ``mode="json"``) holds bytes
    as base64. The state therefore takes the former, the same as a value passed to
    ``create_session``; values with no JSON form take the text forms ``encoded``
    already carries (see :func:`json_state`).
    """
    raw = event.actions.state_delta if event.actions is not None else None
    if not raw:
        return None
    try:
        return cast(JSONObject, to_jsonable_python(raw, inf_nan_mode="null"))
    except _NO_JSON:
        actions = cast(dict[str, Any], encoded.get("actions") or {})
        return cast(JSONObject | None, actions.get("state_delta") or None)


# -- decoding ------------------------------------------------------------------------


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
    several times faster. If the hooks are not found (:data:`UPSTREAM`) or the
    schema cannot be rebuilt (a future google-adk or pydantic), it falls back
    to ``Event.model_validate``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._validate: Callable[[Any], Any] | None = None
        self.fast = False

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
                    self.fast = True
                except Exception as exc:  # depends on the installed google-adk / pydantic
                    logger.debug(
                        "fast ADK event decoder unavailable (%s); using model_validate", exc
                    )
                    self._validate = AdkEvent.model_validate
            return self._validate


def _fast_validator() -> SchemaValidator:
    skip = {UPSTREAM.genai_type_check, UPSTREAM.event_convenience}
    if None in skip:
        raise LookupError(f"upstream hooks missing: {UPSTREAM.missing()}")
    AdkEvent.model_validate({})  # make sure every nested schema is built
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
