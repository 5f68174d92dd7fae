"""The ``omnisession`` command.

Core provides ``omnisession backends``; installed plugins add commands through
the ``omnisession_register_commands`` hook (``omnisession-conformance`` adds
``conformance``, the demo and benchmark add ``demo`` and ``bench``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from .plugins import Registry, registry

#: Commands documented in the README, with the distribution that provides each.
_OPTIONAL_COMMANDS = {
    "conformance": "omnisession-conformance",
    "demo": "omnisession-bench",
    "bench": "omnisession-bench",
}


def _backends_as_dicts(reg: Registry) -> dict[str, Any]:
    return {
        "backends": [
            {
                "name": backend.name,
                "distribution": backend.distribution,
                "version": backend.version,
                "schemes": list(backend.schemes),
                "capabilities": sorted(cap.value for cap in backend.capabilities),
                "description": backend.description,
            }
            for backend in reg.backends
        ],
        "errors": [
            {"plugin": err.plugin, "distribution": err.distribution, "error": err.error}
            for err in reg.errors
        ],
    }


def _cmd_backends(args: argparse.Namespace) -> int:
    data = _backends_as_dicts(registry())
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    for backend in data["backends"]:
        origin = f"{backend['distribution'] or '?'} {backend['version'] or ''}".strip()
        print(f"{backend['name']}  ({origin})")
        print(f"  schemes:      {', '.join(s + '://' for s in backend['schemes'])}")
        print(f"  capabilities: {', '.join(backend['capabilities'])}")
        if backend["description"]:
            print(f"  {backend['description']}")
    for err in data["errors"]:
        print(f"FAILED plugin {err['plugin']} ({err['distribution'] or '?'}): {err['error']}")
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[Any]]:
    """The CLI parser with every command core and the installed plugins provide."""
    parser = argparse.ArgumentParser(
        prog="omnisession", description="One session protocol for AI agents."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    backends = subparsers.add_parser("backends", help="list installed backends and plugin errors")
    backends.add_argument("--json", action="store_true", help="machine-readable output")
    backends.set_defaults(handler=_cmd_backends)
    reg = registry()
    for impl in reg.plugin_manager.hook.omnisession_register_commands.get_hookimpls():
        try:
            impl.function(subparsers=subparsers)
        except Exception as exc:  # a broken plugin must not take the CLI down
            print(
                f"warning: plugin {impl.plugin_name} failed to add commands: {exc}", file=sys.stderr
            )
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = build_parser()
    if argv and argv[0] in _OPTIONAL_COMMANDS and argv[0] not in subparsers.choices:
        parser.exit(2, f"omnisession {argv[0]}: install {_OPTIONAL_COMMANDS[argv[0]]} to get it\n")
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    status: int = args.handler(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
