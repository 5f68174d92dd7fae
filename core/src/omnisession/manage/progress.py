"""What a long transfer reports as it goes: :class:`Progress` and the CLI's two renderings.

:class:`Progress` itself ignores everything (what the Python API uses by
default). The CLI shows a ``rich`` progress bar on a terminal when ``rich``
is installed (``pip install 'omnisession[cli]'``), a one-line counter
rewritten in place otherwise, and nothing at all when stderr is not a
terminal or ``--json`` is given.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["LineProgress", "Progress", "RichProgress", "terminal_progress"]


class Progress:
    """Receives what a transfer did, as it does it. This base class ignores it all."""

    wants_total: bool = False
    """Whether :meth:`begin` should get a session total (costs a listing pass first)."""

    def begin(self, description: str, total_sessions: int | None) -> None:
        """A phase starts (``"copy support"``, ``"verify"``); the total may be unknown."""

    def update(self, *, sessions: int = 0, events: int = 0) -> None:
        """``sessions`` more sessions and ``events`` more events were handled."""

    def end(self) -> None:
        """The phase is over (or was interrupted)."""

    def close(self) -> None:
        """The whole command is over: release the terminal."""


class LineProgress(Progress):
    """A counter on one terminal line, rewritten at most ten times a second."""

    wants_total = True

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._description = ""
        self._total: int | None = None
        self._sessions = 0
        self._events = 0
        self._shown = 0.0

    def begin(self, description: str, total_sessions: int | None) -> None:
        self._description, self._total = description, total_sessions
        self._sessions = self._events = 0
        self._show(force=True)

    def update(self, *, sessions: int = 0, events: int = 0) -> None:
        self._sessions += sessions
        self._events += events
        self._show()

    def end(self) -> None:
        if self._description:
            self._show(force=True)
            self._stream.write("\n")
            self._stream.flush()
            self._description = ""

    def _show(self, *, force: bool = False) -> None:
        moment = time.monotonic()
        if not force and moment - self._shown < 0.1:
            return
        self._shown = moment
        total = f"/{self._total:,}" if self._total is not None else ""
        self._stream.write(
            f"\r{self._description}: {self._sessions:,}{total} sessions, "
            f"{self._events:,} events\x1b[K"
        )
        self._stream.flush()


class RichProgress(Progress):
    """A ``rich`` progress bar per phase: sessions done of the total, events so far."""

    wants_total = True

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        self._bar: Any = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sessions  {task.fields[events]:,} events"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self._task: Any = None
        self._started = False
        self._events = 0

    def begin(self, description: str, total_sessions: int | None) -> None:
        if not self._started:
            self._bar.start()
            self._started = True
        self._events = 0
        self._task = self._bar.add_task(description, total=total_sessions, events=0)

    def update(self, *, sessions: int = 0, events: int = 0) -> None:
        if self._task is None:
            return
        self._events += events
        self._bar.update(self._task, advance=sessions, events=self._events)

    def end(self) -> None:
        if self._task is not None:
            task = self._bar.tasks[-1]
            if task.total is None:
                self._bar.update(self._task, total=task.completed)
            self._bar.stop_task(self._task)
            self._task = None

    def close(self) -> None:
        if self._started:
            self._bar.stop()
            self._started = False


def terminal_progress(stream: TextIO | None = None, *, quiet: bool = False) -> Progress:
    """The CLI's progress display on ``stream`` (stderr): rich, plain, or none when piped."""
    stream = sys.stderr if stream is None else stream
    if quiet or not _is_terminal(stream):
        return Progress()
    try:
        return RichProgress(stream)
    except ImportError:
        return LineProgress(stream)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
