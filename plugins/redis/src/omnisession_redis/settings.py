"""A store's settings, read once from its parsed options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .encoding import encode_ttl
from .keys import check_prefix

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """What a store was opened with, in the forms its scripts take."""

    prefix: str
    ttl: float
    """Seconds a session lives after its last write; 0: forever."""
    ttl_ms: str
    user_ttl_ms: str
    app_ttl_ms: str
    persistent: bool
    command_timeout: float

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Settings:
        """From core's ``parse_options`` result (every option present, checked)."""
        ttl = float(options["ttl"] or 0)
        return cls(
            prefix=check_prefix(options["prefix"]),
            ttl=ttl,
            ttl_ms=encode_ttl(ttl),
            user_ttl_ms=encode_ttl(options["user_ttl"]),
            app_ttl_ms=encode_ttl(options["app_ttl"]),
            persistent=bool(options["persistent"]),
            command_timeout=float(options["command_timeout"]),
        )
