"""Durations as people write them on a command line: ``30d``, ``12h``, ``90m``, ``1w2d``."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: numbers with a unit each (s, m, h, d, w), e.g. ``30d`` or ``1d12h``.

    ``ValueError`` with an example for anything else (a bare number included:
    ``30`` could mean days or seconds, so the unit is required).
    """
    compact = text.strip().lower().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit, e.g. 30d, 12h, 90m, "
            "45s, 2w or 1d12h"
        )
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(f"the duration {text!r} must be longer than zero")
    return seconds
