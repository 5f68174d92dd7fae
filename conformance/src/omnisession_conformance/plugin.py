"""Adds ``omnisession conformance URL`` to the CLI through core's command hook."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from omnisession import OmnisessionError, open_store
from omnisession.hookspecs import hookimpl

#: Exit statuses: 0 conformant (or, with -k, no selected case failed), 1 not,
#: 2 the run could not happen (bad arguments, unknown scheme, unreachable store).
EXIT_OK, EXIT_NONCONFORMANT, EXIT_CANNOT_RUN = 0, 1, 2


@hookimpl
def omnisession_register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "conformance",
        help="run the conformance suite against a store URL",
        description=(
            "Run every conformance case against the backend a URL names. Each case "
            "works in an app namespace of its own (conformance-<random>), so the "
            "database need not be empty, and erases it when it ends: the run leaves "
            "nothing behind. It stops at once, with one message, when the store cannot "
            "be reached. Exit status: 0 at level BASE or better (with -k: no selected "
            "case failed), 1 otherwise, 2 when the suite could not run."
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
    parser.add_argument(
        "-k",
        dest="select",
        metavar="PATTERN",
        help=(
            "run only the cases matching PATTERN: words matched against case names, "
            "topics and capabilities, with and/or/not (e.g. -k 'replace and not race')"
        ),
    )
    parser.add_argument(
        "-x", "--exitfirst", action="store_true", help="stop at the first failing case"
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="do not erase what each case wrote (to inspect a failure)",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from .report import select_cases, validate
    from .store_suite import StoreConformance

    options: dict[str, Any] = {}
    for item in args.option:
        name, sep, value = item.partition("=")
        if not sep:
            return _fail(f"--option {item!r}: write it as NAME=VALUE")
        options[name] = value
    if args.select is not None:
        from .harness import cases_of

        try:
            if not select_cases(cases_of(StoreConformance), args.select):
                return _fail(f"-k {args.select!r} matches no case")
        except ValueError as exc:
            return _fail(str(exc))
    url: str = args.url
    shown = redact(url)
    # `memory://` is private to one store object; give both instances one engine.
    if url.rstrip("/") == "memory:":
        url = "memory://omnisession-conformance"
    try:
        open_store(url, **options)  # resolves the scheme and checks options, no I/O
    except (OmnisessionError, ValueError, ImportError) as exc:
        return _fail(f"cannot open {shown}: {_one_line(exc)}")
    except Exception as exc:  # the backend's factory itself is broken: still one line
        return _fail(f"cannot open {shown}: the backend's factory failed: {_one_line(exc)}")
    progress = _Progress(sys.stderr) if _interactive(args) else None
    try:
        report = validate(
            lambda: open_store(url, **options),
            second_factory=lambda: open_store(url, **options),
            name=shown,
            select=args.select,
            stop_on_failure=args.exitfirst,
            progress=progress,
            cleanup=not args.keep_data,
        )
    except KeyboardInterrupt:
        if progress is not None:
            progress.clear()
        return _fail("interrupted")
    except Exception as exc:  # the store could not even be opened
        if progress is not None:
            progress.clear()
        return _fail(f"cannot run the suite against {shown}: {_one_line(exc)}")
    if progress is not None:
        progress.clear()
    if report.aborted is not None and not report.results:
        # Unreachable from the start: one line, nothing else (the JSON for machines).
        if args.json:
            print(report.to_json())
        return _fail(f"cannot run the suite against {shown}: {report.aborted}")
    print(report.to_json() if args.json else report.render())
    return EXIT_OK if report.ok else EXIT_NONCONFORMANT


def _fail(message: str) -> int:
    print(f"omnisession conformance: error: {message}", file=sys.stderr)
    return EXIT_CANNOT_RUN


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _interactive(args: argparse.Namespace) -> bool:
    return not args.json and sys.stdout.isatty() and sys.stderr.isatty()


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for reports and messages)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return url


class _Progress:
    """One line on the terminal, rewritten after each case: count, failures, current case."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.failed = 0
        self.shown = False

    def __call__(self, spec: Any, result: Any, number: int, total: int) -> None:
        if result is not None:
            if result.status == "failed":
                self.failed += 1
                self.clear()
                print(f"FAILED {spec.topic}: {spec.name}", file=self.stream)
            return
        width = shutil.get_terminal_size((80, 24)).columns
        failed = f", {self.failed} failed" if self.failed else ""
        line = f"[{number}/{total}{failed}] {spec.topic}: {spec.name}"
        self.stream.write("\r" + line[: max(width - 1, 10)] + "\033[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False
