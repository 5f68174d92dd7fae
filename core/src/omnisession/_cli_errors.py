"""How every ``omnisession`` command reports a failure: one line and an exit status.

Shared by the core CLI (:mod:`omnisession.cli`) and the session-management
commands (:mod:`omnisession.manage.cli`), so a mistake or a failing store reads
and exits the same way whichever command met it:

* exit 0: done; 1: the command failed (the store, a file, a plugin that did not
  load); 2: a usage error (arguments, an unknown scheme, a bad option, URL or
  id); 130: interrupted;
* an error is one line on stderr, ``omnisession COMMAND: error: MESSAGE``;
* anything unexpected is one line too, naming its type; set
  ``OMNISESSION_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import InvalidKey, InvalidOption, OmnisessionError, UnknownBackend

__all__ = [
    "DEBUG_VARIABLE",
    "FAILED",
    "INTERRUPTED",
    "OK",
    "USAGE",
    "UsageError",
    "command_name",
    "debugging",
    "describe",
    "exit_status",
    "innermost",
    "report_error",
    "silence_stdout",
]

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130

#: Set (to anything but empty or 0) to see the traceback of an unexpected error.
DEBUG_VARIABLE = "OMNISESSION_DEBUG"


class UsageError(Exception):
    """A mistake in the command line: exit status 2."""


def exit_status(exc: BaseException) -> int:
    """The exit status of a command that raised ``exc``."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, (UsageError, UnknownBackend, InvalidOption, InvalidKey)):
        return USAGE
    if isinstance(exc, OmnisessionError):
        return FAILED
    if isinstance(exc, (ValueError, TypeError)):  # a bad URL, cursor or argument value
        return USAGE
    return FAILED


def describe(exc: BaseException) -> str:
    """``exc`` as the one line a user reads."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return (
            f"a module this command needs is not installed: {exc.name} ({exc}); install the "
            "distribution or extra that provides it (see `omnisession backends`)"
        )
    if isinstance(exc, OSError) and not isinstance(exc, OmnisessionError) and exc.filename:
        text = f"{exc.strerror or exc}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    if not isinstance(
        exc, (OmnisessionError, UsageError, ValueError, TypeError, OSError, ImportError)
    ):
        text = f"unexpected {type(exc).__name__}: {text} (set {DEBUG_VARIABLE}=1 for the traceback)"
    return " ".join(text.split())


def innermost(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (a TaskGroup's failure), else ``exc``."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def command_name(args: argparse.Namespace) -> str:
    """The command and subcommand ``args`` were parsed for (``"sessions ls"``)."""
    parts = (getattr(args, "command", None), getattr(args, "subcommand", None))
    return " ".join(part for part in parts if isinstance(part, str) and part)


def report_error(command: str, message: str) -> None:
    """Write the one error line, after whatever the command already printed."""
    prefix = f"omnisession {command}" if command else "omnisession"
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        silence_stdout()
    try:
        sys.stderr.write(f"{prefix}: error: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def silence_stdout() -> None:
    """After the reader closed the pipe: whatever is still written goes to /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def debugging() -> bool:
    """Whether ``OMNISESSION_DEBUG`` asks for tracebacks instead of error lines."""
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
