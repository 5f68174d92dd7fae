"""The ``omnisession`` command (also ``python -m omnisession``).

Core provides ``omnisession backends`` and the session-management commands
(:mod:`omnisession.manage`); installed plugins add commands through the
``omnisession_register_commands`` hook (``omnisession-conformance`` adds
``conformance``, ``omnisession-bench`` adds ``demo`` and ``bench``).

Every command's handler runs under ONE handler, :func:`run_handler`, so no
command shows a traceback for a mistake or a failing store:

* exit 0: done; 1: the command failed (the store, a file, a plugin that did not
  load); 2: a usage error (arguments, an unknown scheme, a bad option, URL or
  id); 130: interrupted;
* an error is one line on stderr, ``omnisession COMMAND: error: MESSAGE``;
* a reader that closes the pipe early (``omnisession backends --json | head -1``)
  ends the command quietly, with status 0;
* anything unexpected is one line too, naming its type; set
  ``OMNISESSION_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import InvalidKey, InvalidOption, OmnisessionError, UnknownBackend
from .manage.cli import add_commands as add_manage_commands
from .plugins import PluginError, Registry, registry

__all__ = ["DEBUG_VARIABLE", "build_parser", "exit_status", "main", "run_handler", "version"]

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130

#: Set (to anything but empty or 0) to see the traceback of an unexpected error.
DEBUG_VARIABLE = "OMNISESSION_DEBUG"

#: Commands documented in the README, with the distribution that provides each.
_OPTIONAL_COMMANDS = {
    "conformance": "omnisession-conformance",
    "demo": "omnisession-bench",
    "bench": "omnisession-bench",
}

#: Plugins whose ``omnisession_register_commands`` raised (``backends`` reports them).
_COMMAND_ERRORS: list[PluginError] = []


def version() -> str:
    """The installed version of the ``omnisession`` distribution."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("omnisession")
    except PackageNotFoundError:  # running from a source tree that is not installed
        from . import __version__

        return __version__


# -- the one error handler ---------------------------------------------------------------


def exit_status(exc: BaseException) -> int:
    """The exit status of a command that raised ``exc`` (see the module docstring)."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, (UnknownBackend, InvalidOption, InvalidKey)):
        return USAGE
    if isinstance(exc, OmnisessionError):
        return FAILED
    if isinstance(exc, (ValueError, TypeError)):  # a bad URL, cursor or argument value
        return USAGE
    return FAILED


def _describe(exc: BaseException) -> str:
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
    if not isinstance(exc, (OmnisessionError, ValueError, TypeError, OSError, ImportError)):
        text = f"unexpected {type(exc).__name__}: {text} (set {DEBUG_VARIABLE}=1 for the traceback)"
    return " ".join(text.split())


def _innermost(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (a TaskGroup's failure), else ``exc``."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _command_name(args: argparse.Namespace) -> str:
    parts = (getattr(args, "command", None), getattr(args, "subcommand", None))
    return " ".join(part for part in parts if isinstance(part, str) and part)


def _error(command: str, message: str) -> None:
    prefix = f"omnisession {command}" if command else "omnisession"
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        _silence_stdout()
    try:
        sys.stderr.write(f"{prefix}: error: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    """After the reader closed the pipe: whatever is still written goes to /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one command's handler: its status, or one error line and the status of the error."""
    command = _command_name(args)
    try:
        status = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        _silence_stdout()
        return OK
    except (Exception, KeyboardInterrupt) as raised:
        exc = _innermost(raised)
        if isinstance(exc, BrokenPipeError):
            _silence_stdout()
            return OK
        if _debugging():
            raise
        _error(command, _describe(exc))
        return exit_status(exc)


# -- omnisession backends ----------------------------------------------------------------


def _backends_as_dicts(reg: Registry) -> dict[str, Any]:
    return {
        "backends": [backend.describe() for backend in reg.backends],
        "errors": [
            {"plugin": err.plugin, "distribution": err.distribution, "error": err.error}
            for err in [*reg.errors, *_COMMAND_ERRORS]
        ],
    }


def _print_backend(backend: dict[str, Any]) -> None:
    origin = f"{backend['distribution'] or '?'} {backend['version'] or ''}".strip()
    print(f"{backend['name']}  ({origin})")
    if backend["description"]:
        print(f"  {backend['description']}")
    print(f"  schemes:      {', '.join(s + '://' for s in backend['schemes'])}")
    print(f"  capabilities: {', '.join(backend['capabilities'])}")
    optional = backend["optional_capabilities"]
    if optional:
        print("  optional capabilities:")
        width = max(len(name) for name in optional)
        for name, how in optional.items():
            print(f"    {name.ljust(width)}  {how}")
    options = backend["options"]
    if options:
        print("  options (URL query ?name=value, or open_store keywords):")
        rows = [
            (
                option["name"],
                option["type"],
                "-" if option["default"] is None else json.dumps(option["default"]),
            )
            for option in options
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row, option in zip(rows, options, strict=True):
            cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            print(f"    {cells}  {option['doc']}")
    else:
        print("  options:      none")


def _cmd_backends(args: argparse.Namespace) -> int:
    data = _backends_as_dicts(registry())
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        for number, backend in enumerate(data["backends"]):
            if number:
                print()
            _print_backend(backend)
    for err in data["errors"]:
        _error(
            "backends",
            f"plugin {err['plugin']} ({err['distribution'] or 'unknown distribution'}) "
            f"failed to load: {err['error']}",
        )
    return FAILED if data["errors"] else OK


# -- the parser --------------------------------------------------------------------------


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[Any]]:
    """The CLI parser with every command core and the installed plugins provide."""
    parser = argparse.ArgumentParser(
        prog="omnisession",
        description="One session protocol for AI agents.",
        epilog=f"Exit status: 0 done, 1 failed, 2 usage error. {DEBUG_VARIABLE}=1 shows "
        "the traceback of an unexpected error.",
    )
    parser.add_argument("--version", action="version", version=f"omnisession {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    backends = subparsers.add_parser(
        "backends",
        help="list installed backends (schemes, capabilities, options) and plugin errors",
        description="List every installed backend with its schemes, capabilities, optional "
        "capabilities and options. Exit status 1 when a plugin failed to load.",
    )
    backends.add_argument("--json", action="store_true", help="machine-readable output")
    backends.set_defaults(handler=_cmd_backends)
    add_manage_commands(subparsers)
    reg = registry()
    _COMMAND_ERRORS.clear()
    for impl in reg.plugin_manager.hook.omnisession_register_commands.get_hookimpls():
        try:
            impl.function(subparsers=subparsers)
        except Exception as exc:  # a broken plugin must not take the CLI down
            _COMMAND_ERRORS.append(
                PluginError(impl.plugin_name, None, f"cannot add its commands: {exc!r}")
            )
            _error("", f"plugin {impl.plugin_name} failed to add its commands: {exc}")
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = build_parser()
    if argv and argv[0] in _OPTIONAL_COMMANDS and argv[0] not in subparsers.choices:
        wanted = _OPTIONAL_COMMANDS[argv[0]]
        _error(argv[0], f"this command comes with {wanted}: pip install {wanted}")
        return USAGE
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return USAGE
    return run_handler(handler, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
