"""A lock held across processes: pytest-xdist workers, and other test runs on this machine.

pytest-xdist's ``--dist loadgroup`` would keep tests that share a resource on one
worker, but with pytest 9.2 it silently stops grouping (its ``xdist_group`` marks
no longer change the node ids it schedules by: pytest-dev/pytest-xdist#1386), and
it never covered two runs at once. A lock on a file does both.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["machine_lock"]


@contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """Hold the lock ``name`` (one per shared resource, e.g. ``"port-5000"``) on this machine."""
    path = Path(tempfile.gettempdir()) / f"omnisession-tests-{name}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield
