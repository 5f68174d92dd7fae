"""The session-management commands of ``omnisession``.

::

    omnisession sessions ls URL --app A [--user U]          a page of sessions (--all: every page)
    omnisession sessions show URL APP USER SESSION [--last N]   state by scope and a timeline
    omnisession sessions rm URL APP USER SESSION...
    omnisession purge URL --app A --idle 30d [--user U] [--dry-run]
    omnisession forget-user URL APP USER
    omnisession export URL [--app A]... [--user U] [-o FILE]
    omnisession import URL FILE
    omnisession copy SRC DST [--app A]... [--user U] [--no-verify]

Every command takes ``--json`` (one JSON document on stdout, errors included)
and exits 0 when it did its job, 1 when it failed (the store, the file, the
count check) and 2 for a usage error (arguments, an unknown scheme, a bad
option or id). Errors are one clear message on stderr, never a traceback,
and a closed pipe (``| head``) ends a listing quietly. Tables and progress
bars use ``rich`` when it is installed (``pip install 'omnisession[cli]'``)
and plain text otherwise; progress is shown only on a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TextIO

from .._cli_errors import (
    FAILED,
    OK,
    USAGE,
    UsageError,
    command_name,
    debugging,
    exit_status,
    innermost,
    report_error,
    silence_stdout,
)
from .._cli_errors import describe as describe_error
from ..errors import InvalidKey, InvalidOption, OmnisessionError, UnknownBackend
from ..model import APP_PREFIX, USER_PREFIX, JSONObject, SessionKey, SessionRecord, split_state
from ..plugins import open_store
from ..store import SessionStore
from . import transfer
from .durations import parse_duration
from .progress import Progress, terminal_progress
from .timeline import describe

__all__ = ["add_commands", "main"]

# -- output -----------------------------------------------------------------------------------


class Output:
    """Where a command's results go: JSON, a rich table on a terminal, or plain text."""

    def __init__(self, json_mode: bool, stream: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.stream = sys.stdout if stream is None else stream

    def emit(self, document: Any) -> None:
        self.stream.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        rows = [list(row) for row in rows]
        console = _rich_console(self.stream)
        if console is not None:
            from rich.table import Table

            table = Table(*headers, box=None, pad_edge=False, header_style="bold")
            for row in rows:
                table.add_row(*row)
            console.print(table)
            return
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
        for row in [list(headers), *rows]:
            self.line(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )


def _rich_console(stream: TextIO) -> Any:
    """A rich console on ``stream`` when it is a terminal and rich is installed, else None."""
    try:
        if not stream.isatty():
            return None
        from rich.console import Console
    except (ImportError, AttributeError, ValueError):
        return None
    return Console(file=stream, highlight=False, soft_wrap=False)


def _when(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.3f}"


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- running a command ------------------------------------------------------------------------


Handler = Callable[[argparse.Namespace, Output], Coroutine[Any, Any, int]]


def _runner(
    handler: Handler, *, pipe_closed_status: int = OK
) -> Callable[[argparse.Namespace], int]:
    """Run ``handler`` on a fresh event loop, turning every failure into the one error
    line of every command (and, under ``--json``, an error document) and a status."""

    def run(args: argparse.Namespace) -> int:
        out = Output(getattr(args, "json", False))
        try:
            return asyncio.run(handler(args, out))
        except BrokenPipeError:
            silence_stdout()
            return pipe_closed_status
        except (Exception, KeyboardInterrupt) as raised:
            if debugging():
                raise
            exc = innermost(raised)
            if isinstance(exc, KeyboardInterrupt):
                message = "interrupted; re-run the same command to resume"
            else:
                message = describe_error(exc)
            status = USAGE if isinstance(exc, transfer.AppsRequired) else exit_status(exc)
            report_error(command_name(args), message)
            if out.json_mode:
                document = {
                    "ok": False,
                    "error": message,
                    "error_type": type(exc).__name__,
                    "exit_status": status,
                }
                try:
                    out.emit(document)
                    sys.stdout.flush()
                except BrokenPipeError:
                    silence_stdout()
            return status

    return run


@asynccontextmanager
async def _opened(url: str) -> Any:
    """``open_store(url)`` with a bad URL reported as a usage error (exit status 2)."""
    try:
        store = open_store(url)
    except (UnknownBackend, InvalidOption) as exc:
        raise UsageError(str(exc)) from exc
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{url!r}: {exc}") from exc
    async with store as opened:
        yield opened


def _key(app: str, user: str, session: str) -> SessionKey:
    try:
        return SessionKey(app, user, session)
    except InvalidKey as exc:
        raise UsageError(str(exc)) from exc


def _progress(args: argparse.Namespace) -> Progress:
    return terminal_progress(sys.stderr, quiet=args.json or getattr(args, "quiet", False))


def _scopes(record: SessionRecord) -> dict[str, JSONObject]:
    scopes = split_state(record.state)
    return {"session": scopes.session, "user": scopes.user, "app": scopes.app}


# -- sessions ls / show / rm ------------------------------------------------------------------


def _record_json(record: SessionRecord) -> JSONObject:
    return {
        "app": record.key.app_name,
        "user": record.key.user_id,
        "session": record.key.session_id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "revision": record.revision,
    }


async def _sessions_ls(args: argparse.Namespace, out: Output) -> int:
    async with _opened(args.url) as store:
        cursor = args.cursor
        shown = 0
        first = True
        while True:
            page = await store.list_sessions(
                args.app, args.user, page_size=args.page_size, cursor=cursor
            )
            cursor = page.next_cursor
            if out.json_mode:
                if not args.all:
                    out.emit(
                        {
                            "sessions": [_record_json(r) for r in page.sessions],
                            "next_cursor": cursor,
                        }
                    )
                    return OK
                for record in page.sessions:  # JSON Lines, one session per line, streamed
                    out.line(json.dumps(_record_json(record), ensure_ascii=False))
            else:
                rows = [
                    [
                        r.key.user_id,
                        r.key.session_id,
                        _when(r.updated_at),
                        _when(r.created_at),
                        str(r.revision),
                    ]
                    for r in page.sessions
                ]
                if rows or first:
                    out.table(["USER", "SESSION", "UPDATED", "CREATED", "REVISION"], rows)
            first = False
            shown += len(page.sessions)
            if cursor is None or not args.all:
                break
        if not out.json_mode:
            more = f"; next page: --cursor {cursor}" if cursor else ""
            sys.stderr.write(f"{shown} session{'s' if shown != 1 else ''}{more}\n")
    return OK


async def _sessions_show(args: argparse.Namespace, out: Output) -> int:
    key = _key(args.app, args.user, args.session)
    async with _opened(args.url) as store:
        record = await store.get_session(key, last=0)
        if record is None:
            raise CommandFailed(f"no session {key} in {args.url}")
        scopes = _scopes(record)
        if out.json_mode:
            events = [
                {
                    "seq": event.seq,
                    "timestamp": event.timestamp,
                    "steps": [dataclasses.asdict(step) for step in describe(event.data)],
                    "data": event.data,
                    "state_delta": event.state_delta,
                }
                async for event in _history(store, key, args.last)
            ]
            out.emit({"session": _record_json(record), "state": scopes, "events": events})
            return OK
        out.line(f"session {key}")
        out.line(
            f"  created {_when(record.created_at)}   updated {_when(record.updated_at)}   "
            f"revision {record.revision}"
        )
        for scope, values in scopes.items():
            out.line(f"{scope} state:" + ("" if values else " (empty)"))
            prefix = {"user": USER_PREFIX, "app": APP_PREFIX}.get(scope, "")
            for name, value in values.items():
                out.line(f"  {prefix}{name} = {_value(value)}")
        out.line("history:" if args.last is None else f"history (last {args.last}):")
        count = 0
        async for event in _history(store, key, args.last):
            count += 1
            stamp = _when(event.timestamp)
            for index, step in enumerate(describe(event.data)):
                label = f"#{event.seq}" if index == 0 else ""
                out.line(f"  {label:>6}  {stamp}  {step.who[:14]:<14} {step.kind:<11} {step.text}")
            if event.state_delta:
                changes = ", ".join(f"{k} = {_value(v)}" for k, v in event.state_delta.items())
                out.line(f"  {'':>6}  {'':19}  {'':<14} {'state':<11} {changes}")
        if count == 0:
            out.line("  (no events)")
    return OK


async def _history(store: SessionStore, key: SessionKey, last: int | None) -> Any:
    """The events to show, oldest first: all (a page at a time) or the newest ``last``."""
    if last is not None:
        record = await store.get_session(key, last=last)
        for event in record.events if record is not None else []:
            yield event
        return
    async for events in transfer.iter_event_pages(store, key):
        for event in events:
            yield event


class CommandFailed(OmnisessionError):
    """The command could not do its job (exit status 1)."""


async def _sessions_rm(args: argparse.Namespace, out: Output) -> int:
    results = []
    async with _opened(args.url) as store:
        for session in args.sessions:
            key = _key(args.app, args.user, session)
            existed = await store.get_session(key, last=0) is not None
            await store.delete_session(key)
            results.append({"session": session, "deleted": existed})
            if not out.json_mode:
                out.line(
                    f"deleted session {key}" if existed else f"no session {key} (nothing to delete)"
                )
    if out.json_mode:
        out.emit({"app": args.app, "user": args.user, "sessions": results})
    return OK


# -- purge / forget-user ----------------------------------------------------------------------


async def _purge(args: argparse.Namespace, out: Output) -> int:
    try:
        idle = parse_duration(args.idle)
    except ValueError as exc:
        raise UsageError(f"--idle: {exc}") from exc
    cutoff = time.time() - idle
    async with _opened(args.url) as store:
        if args.dry_run:
            count = 0
            async for key in _idle_sessions(store, args.app, args.user, cutoff):
                count += 1
                if not out.json_mode and count <= 20:
                    out.line(f"would delete {key}")
            if out.json_mode:
                out.emit(
                    {
                        "app": args.app,
                        "user": args.user,
                        "cutoff": cutoff,
                        "dry_run": True,
                        "sessions": count,
                    }
                )
            else:
                more = " (first 20 shown)" if count > 20 else ""
                out.line(
                    f"{count} session(s) of app {args.app!r} not updated since {_when(cutoff)} "
                    f"would be deleted{more}; run without --dry-run to delete them"
                )
            return OK
        purge = getattr(store, "purge_sessions", None)
        if purge is None:
            raise CommandFailed(
                f"{type(store).__name__} cannot purge sessions (no lifecycle support)"
            )
        deleted = await purge(args.app, cutoff, user_id=args.user)
    if out.json_mode:
        out.emit(
            {
                "app": args.app,
                "user": args.user,
                "cutoff": cutoff,
                "dry_run": False,
                "deleted": deleted,
            }
        )
    else:
        out.line(
            f"deleted {deleted} session(s) of app {args.app!r} not updated since {_when(cutoff)}"
        )
    return OK


async def _idle_sessions(store: SessionStore, app: str, user: str | None, cutoff: float) -> Any:
    """Sessions not updated since ``cutoff``: the listing is oldest update first, so stop at
    the first one updated later."""
    cursor = None
    while True:
        page = await store.list_sessions(app, user, page_size=1000, cursor=cursor)
        for record in page.sessions:
            if record.updated_at >= cutoff:
                return
            yield record.key
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def _forget_user(args: argparse.Namespace, out: Output) -> int:
    _key(args.app, args.user, "-")  # checks the ids before any I/O
    async with _opened(args.url) as store:
        erase = getattr(store, "erase_user", None)
        if erase is None:
            raise CommandFailed(f"{type(store).__name__} cannot erase users (no lifecycle support)")
        deleted = await erase(args.app, args.user)
    if out.json_mode:
        out.emit({"app": args.app, "user": args.user, "deleted_sessions": deleted})
    else:
        out.line(
            f"erased user {args.user!r} of app {args.app!r}: {deleted} session(s) and the user's "
            "state"
        )
    return OK


# -- export / import / copy -------------------------------------------------------------------


async def _export(args: argparse.Namespace, out: Output) -> int:
    progress = _progress(args)
    to_stdout = args.output in (None, "-")
    try:
        async with _opened(args.url) as store:
            report = await transfer.export_store(
                store,
                sys.stdout if to_stdout else args.output,
                apps=args.app,
                user=args.user,
                progress=progress,
            )
    finally:
        progress.close()
    summary = {"ok": True, **report.__dict__, "file": None if to_stdout else args.output}
    report_to = out if not to_stdout else Output(out.json_mode, sys.stderr)
    if out.json_mode:
        report_to.emit(summary)
    else:
        report_to.line(
            f"exported {report.apps} app(s), {report.users} user(s), {report.sessions} "
            f"session(s), {report.events} event(s)" + ("" if to_stdout else f" to {args.output}")
        )
    return OK


async def _import(args: argparse.Namespace, out: Output) -> int:
    progress = _progress(args)
    try:
        async with _opened(args.url) as store:
            source = sys.stdin if args.file == "-" else args.file
            report = await transfer.import_file(store, source, progress=progress)
    finally:
        progress.close()
    if out.json_mode:
        out.emit({"ok": True, **report.__dict__})
    else:
        out.line(
            f"read {report.apps} app(s), {report.users} user(s), {report.sessions} session(s), "
            f"{report.events} event(s); wrote {report.sessions_written} session(s), "
            f"{report.events_written} event(s), {report.scopes_written} scope(s)"
            + (" (everything was already there)" if not _wrote(report) else "")
        )
    return OK


def _wrote(report: transfer.ImportReport | transfer.CopyReport) -> bool:
    return bool(report.sessions_written or report.events_written or report.scopes_written)


async def _copy(args: argparse.Namespace, out: Output) -> int:
    progress = _progress(args)
    try:
        async with _opened(args.source) as source, _opened(args.target) as target:
            try:
                report = await transfer.copy_store(
                    source,
                    target,
                    apps=args.app,
                    user=args.user,
                    verify=not args.no_verify,
                    progress=progress,
                    concurrency=args.concurrency,
                )
            except transfer.CountMismatch as exc:
                progress.close()
                if out.json_mode:
                    out.emit(_copy_json(None, exc.verification, ok=False))
                sys.stderr.write(f"omnisession copy: error: {exc}\n")
                return FAILED
    finally:
        progress.close()
    if out.json_mode:
        out.emit(_copy_json(report, report.verification, ok=True))
        return OK
    out.line(
        f"copied {len(report.apps)} app(s): went through {report.sessions} session(s) of "
        f"{report.users} user(s); wrote {report.sessions_written} session(s), "
        f"{report.events_written} event(s), {report.scopes_written} scope(s) in "
        f"{report.seconds:.1f}s" + (" (everything was already there)" if not _wrote(report) else "")
    )
    if report.verification is not None:
        out.table(
            ["APP", "SESSIONS", "EVENTS", "CHECK"],
            [
                [count.app, str(count.source_sessions), str(count.source_events), "ok"]
                for count in report.verification.apps
            ],
        )
    return OK


def _copy_json(
    report: transfer.CopyReport | None, verification: transfer.Verification | None, *, ok: bool
) -> JSONObject:
    document: JSONObject = {"ok": ok}
    if report is not None:
        document.update(
            apps=report.apps,
            users=report.users,
            sessions=report.sessions,
            sessions_written=report.sessions_written,
            events_written=report.events_written,
            scopes_written=report.scopes_written,
            seconds=report.seconds,
        )
    if verification is not None:
        document["verification"] = {
            "ok": verification.ok,
            "apps": [count.__dict__ for count in verification.apps],
            "differing": verification.differing,
        }
    return document


# -- the parsers ------------------------------------------------------------------------------


def _with_json(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return parser


def _page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError("must be between 1 and 10000")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def add_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``sessions``, ``purge``, ``forget-user``, ``export``, ``import`` and ``copy``."""
    sessions = subparsers.add_parser("sessions", help="list, show and delete sessions of any store")
    actions = sessions.add_subparsers(dest="subcommand", metavar="ACTION")
    sessions.set_defaults(handler=lambda _args: _usage(sessions))

    ls = _with_json(
        actions.add_parser("ls", help="a page of the sessions of an app, oldest update first")
    )
    ls.add_argument("url", metavar="URL")
    ls.add_argument("--app", required=True, help="the app whose sessions to list")
    ls.add_argument("--user", help="only this user's sessions")
    ls.add_argument("--page-size", type=_page_size, default=50, help="sessions per page (50)")
    ls.add_argument("--cursor", help="the next-page cursor a previous ls printed")
    ls.add_argument("--all", action="store_true", help="every page (JSON: one session per line)")
    ls.set_defaults(handler=_runner(_sessions_ls))

    show = _with_json(
        actions.add_parser("show", help="a session's state by scope and its history as a timeline")
    )
    for name in ("url", "app", "user", "session"):
        show.add_argument(name, metavar=name.upper())
    show.add_argument("--last", type=_count, help="only the newest N events")
    show.set_defaults(handler=_runner(_sessions_show))

    rm = _with_json(
        actions.add_parser("rm", help="delete sessions (their events and session state)")
    )
    for name in ("url", "app", "user"):
        rm.add_argument(name, metavar=name.upper())
    rm.add_argument("sessions", metavar="SESSION", nargs="+")
    rm.set_defaults(handler=_runner(_sessions_rm))

    purge = _with_json(
        subparsers.add_parser("purge", help="delete the sessions of an app idle for a duration")
    )
    purge.add_argument("url", metavar="URL")
    purge.add_argument("--app", required=True)
    purge.add_argument(
        "--idle", required=True, help="e.g. 30d, 12h, 90m: not updated for that long"
    )
    purge.add_argument("--user", help="only this user's sessions")
    purge.add_argument("--dry-run", action="store_true", help="count them, delete nothing")
    purge.set_defaults(handler=_runner(_purge))

    forget = _with_json(
        subparsers.add_parser(
            "forget-user", help="erase every session, event and the user: state of one user"
        )
    )
    for name in ("url", "app", "user"):
        forget.add_argument(name, metavar=name.upper())
    forget.set_defaults(handler=_runner(_forget_user))

    export = _with_json(
        subparsers.add_parser("export", help="write sessions, events and scopes as JSON Lines")
    )
    export.add_argument("url", metavar="URL")
    export.add_argument("--app", action="append", help="only this app (repeatable; default: all)")
    export.add_argument("--user", help="only this user of each app")
    export.add_argument(
        "-o", "--output", metavar="FILE", help="the file (.gz: compressed; default: stdout)"
    )
    export.set_defaults(handler=_runner(_export, pipe_closed_status=FAILED))

    importer = _with_json(
        subparsers.add_parser("import", help="import an export file (idempotent, resumable)")
    )
    importer.add_argument("url", metavar="URL")
    importer.add_argument("file", metavar="FILE", help="an export file (.gz too), - for stdin")
    importer.set_defaults(handler=_runner(_import))

    copy = _with_json(
        subparsers.add_parser(
            "copy", help="copy sessions between two stores (resumable, count-checked)"
        )
    )
    copy.add_argument("source", metavar="SRC")
    copy.add_argument("target", metavar="DST")
    copy.add_argument("--app", action="append", help="only this app (repeatable; default: all)")
    copy.add_argument("--user", help="only this user of each app")
    copy.add_argument("--no-verify", action="store_true", help="skip the final count check")
    copy.add_argument(
        "--concurrency",
        type=_positive,
        default=transfer.DEFAULT_CONCURRENCY,
        help=f"sessions copied at once ({transfer.DEFAULT_CONCURRENCY})",
    )
    copy.set_defaults(handler=_runner(_copy))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    return USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run one management command on its own (the ``omnisession`` CLI includes them)."""
    parser = argparse.ArgumentParser(prog="omnisession")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_commands(subparsers)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return USAGE
    status: int = args.handler(args)
    return status
