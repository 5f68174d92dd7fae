"""Adds ``omnisession conformance URL`` to the CLI through core's command hook."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from omnisession import open_store
from omnisession.hookspecs import hookimpl


@hookimpl
def omnisession_register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "conformance",
        help="run the conformance suite against a store URL",
        description=(
            "Run every conformance case against the backend a URL names. Each case "
            "works in an app namespace of its own, so the database need not be empty. "
            "Exit status is 0 only at level BASE or better."
        ),
    )
    parser.add_argument("url", help="store URL, e.g. sqlite:///x.db or memory://")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="backend option passed to open_store (repeatable)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from .report import validate

    options: dict[str, Any] = {}
    for item in args.option:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"--option {item!r}: write it as NAME=VALUE", file=sys.stderr)
            return 2
        options[name] = value
    url: str = args.url
    # `memory://` is private to one store object; give both instances one engine.
    if url.rstrip("/") == "memory:":
        url = "memory://omnisession-conformance"
    try:
        report = validate(
            lambda: open_store(url, **options),
            second_factory=lambda: open_store(url, **options),
            name=args.url,
        )
    except Exception as exc:  # the store could not even be opened
        print(
            f"cannot run the suite against {args.url}: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return 2
    print(report.to_json() if args.json else report.render())
    return 0 if report.conformant else 1
