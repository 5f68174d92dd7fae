"""Small helpers both stores share: collision-free id components and retry backoff."""

from __future__ import annotations

import hashlib
import random
import time
from urllib.parse import quote, unquote

__all__ = ["backoff", "component", "decode_component", "sortable_time"]

#: A hashed component starts with this; no percent-encoded id can.
HASHED = "!"


def component(value: str, limit: int = 300) -> str:
    """A collision-free, separator-free form of an id for keys and paths.

    Short ids are percent-encoded (every character but ``A-Za-z0-9_.-~`` is
    escaped, so ``/``, ``|``, ``#``, ``!`` never appear bare, and a leading
    ``.`` becomes ``%2E``); ids whose encoding is longer than ``limit`` bytes
    become ``!`` + their SHA-256, which no encoded id can start with. Distinct
    ids never share a component.
    """
    encoded = quote(value, safe="")
    if encoded.startswith("."):
        # "." and ".." path segments get normalised away by some HTTP stacks;
        # quote() never emits "%2E", so this stays unambiguous.
        encoded = "%2E" + encoded[1:]
    if len(encoded) <= limit:
        return encoded
    return HASHED + hashlib.sha256(value.encode("utf-8")).hexdigest()


def decode_component(encoded: str) -> str | None:
    """The id a :func:`component` stands for, or ``None`` for a hashed one."""
    if encoded.startswith(HASHED):
        return None
    return unquote(encoded)


def backoff(attempt: int, base: float = 0.01, cap: float = 0.5) -> None:
    """Sleep (in the worker thread, never on the event loop) before retrying an
    optimistic write that lost a race: full jitter, exponential, capped."""
    time.sleep(random.uniform(0, min(cap, base * (2 ** min(attempt, 16)))))


def sortable_time(seconds: float) -> str:
    """``seconds`` as text whose order is time order (listing keys, index entries).

    Zero-padded for times since 1970; earlier times (imports of old sessions)
    get a ``-``, which sorts before every digit, and an offset that keeps them
    in order among themselves.
    """
    if seconds < 0:
        return "-" + f"{10**18 + round(seconds * 1e6):019d}"
    return f"{seconds:020.6f}"
