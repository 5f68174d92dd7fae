"""Store options as data, and the one function that reads them.

A backend declares its options once, as :class:`Option` values on its
:class:`~omnisession.Backend` (``omnisession backends`` lists them), and its
factory calls :func:`parse_options` with the same declarations. Options come
from the URL's query (``redis://h/0?ttl=60``) and from keyword arguments of
``open_store`` (keywords win). Every backend therefore treats options the same
way, before any I/O:

* an unknown or misspelt name raises :class:`~omnisession.errors.InvalidOption`
  naming the closest valid one and listing every option the backend accepts;
* a value of the wrong kind (``ttl=soon``) or out of range raises the same error;
* text from a URL is converted to the declared type (``bool`` accepts
  ``true/false/1/0/yes/no/on/off``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .errors import InvalidOption

__all__ = ["Option", "ParsedURL", "parse_options"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Option:
    """One option a backend accepts.

    ``kind`` is ``bool``, ``int``, ``float`` or ``str``; ``choices`` limits a
    ``str`` option to those values (compared case-insensitively, returned as
    declared); ``minimum`` bounds a number from below. ``default`` is what the
    store uses when the option is not given (``None``: unset).
    """

    name: str
    kind: type
    default: Any
    doc: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None

    def convert(self, value: Any, backend: str) -> Any:
        """``value`` (text from a URL, or a Python value) as this option's type."""
        if value is None:
            return None
        try:
            converted = _CONVERTERS[self.kind](value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidOption(
                f"{backend} option {self.name}={value!r} must be {_KIND_NAMES[self.kind]}: "
                f"{self.doc}"
            ) from None
        if self.choices is not None:
            match = {choice.lower(): choice for choice in self.choices}.get(str(converted).lower())
            if match is None:
                raise InvalidOption(
                    f"{backend} option {self.name}={value!r} must be one of "
                    f"{', '.join(self.choices)}"
                )
            converted = match
        if self.minimum is not None and converted < self.minimum:
            raise InvalidOption(
                f"{backend} option {self.name}={value!r} must be at least {self.minimum:g}"
            )
        return converted


    def describe(self) -> dict[str, Any]:
        """This option as JSON-ready data (what ``omnisession backends`` lists)."""
        default = self.default
        if default is not None and not isinstance(default, (bool, int, float, str)):
            default = str(default)
        return {
            "name": self.name,
            "type": self.kind.__name__,
            "default": default,
            "doc": self.doc,
            "choices": list(self.choices) if self.choices is not None else None,
            "minimum": self.minimum,
        }


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    return int(str(value).strip()) if isinstance(value, str) else int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(value)
    number = float(value.strip() if isinstance(value, str) else value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
}
_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


@dataclass(frozen=True)
class ParsedURL:
    """A store URL split into its location (no query) and its checked options."""

    url: str
    """The URL without its query string: scheme, credentials, host, path."""
    options: dict[str, Any]
    """Every declared option: the given value, converted, or its default."""
    given: frozenset[str]
    """The names of the options the user actually set (URL or keywords)."""


def parse_options(
    declared: Sequence[Option],
    url: str,
    keywords: Mapping[str, Any] | None = None,
    *,
    backend: str,
) -> ParsedURL:
    """Read every option of ``url``'s query and ``keywords`` against ``declared``.

    Raises :class:`InvalidOption` for a name that is not declared or a value
    that does not convert; ``backend`` names the backend in messages.
    """
    by_name = {option.name: option for option in declared}
    parts = urlsplit(url)
    raw: dict[str, Any] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        raw[name] = value
    raw.update(keywords or {})
    unknown = sorted(name for name in raw if name not in by_name)
    if unknown:
        raise InvalidOption(_unknown_message(backend, unknown, sorted(by_name)))
    values = {option.name: option.default for option in declared}
    for name, value in raw.items():
        values[name] = by_name[name].convert(value, backend)
    # Cut the query off the text as written: urlunsplit would rewrite some
    # URLs (``sqlite:////abs.db`` loses a slash, ``unix:///p`` its ``//``).
    location = url.split("#", 1)[0].split("?", 1)[0]
    return ParsedURL(location, values, frozenset(raw))


def _unknown_message(backend: str, unknown: list[str], valid: list[str]) -> str:
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    accepted = ", ".join(valid) or "none"
    return (
        f"unknown {backend} option {', '.join(hints)}; the {backend} backend accepts: "
        f"{accepted} (see `omnisession backends`)"
    )
