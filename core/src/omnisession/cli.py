"""The ``omnisession`` command (also ``python -m omnisession``).

Core provides ``omnisession backends`` and the session-management commands
(:mod:`omnisession.manage`); installed plugins add commands through the
``omnisession_register_commands`` hook (``omnisession-conformance`` adds
``conformance``, ``omnisession-bench`` adds ``demo`` and ``bench``).

Every command's handler runs under ONE handler, :func:`run_handler`, so no
command shows a traceback for a mistake or a failing store: an error is one
line and an exit status, as :mod:`omnisession._cli_errors` says (the
session-management commands report through it too), and a reader that closes
the pipe early (``omnisession backends --json | head -1``) ends the command
quietly, with status 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ._cli_errors import (
    DEBUG_VARIABLE,
    FAILED,
    OK,
    USAGE,
    command_name,
    debugging,
    describe,
    exit_status,
    innermost,
    report_error,
    silence_stdout,
)
from .manage.cli import add_commands as add_manage_commands
from .plugins import PluginError, Registry, registry

__all__ = ["DEBUG_VARIABLE", "build_parser", "exit_status", "main", "run_handler", "version"]

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


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one command's handler: its status, or one error line and the status of the error."""
    try:
        status = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        silence_stdout()
        return OK
    except (Exception, KeyboardInterrupt) as raised:
        exc = innermost(raised)
        if isinstance(exc, BrokenPipeError):
            silence_stdout()
            return OK
        if debugging():
            raise
        report_error(command_name(args), describe(exc))
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
        report_error(
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
            report_error("", f"plugin {impl.plugin_name} failed to add its commands: {exc}")
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = build_parser()
    if argv and argv[0] in _OPTIONAL_COMMANDS and argv[0] not in subparsers.choices:
        wanted = _OPTIONAL_COMMANDS[argv[0]]
        report_error(argv[0], f"this command comes with {wanted}: pip install {wanted}")
        return USAGE
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return USAGE
    return run_handler(handler, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
