"""The management commands: output, --json, exit statuses, errors without tracebacks."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from omnisession import Backend, SessionKey, Unsupported, open_store
from omnisession.cli import main
from omnisession.manage.progress import LineProgress, Progress, RichProgress, terminal_progress
from omnisession.memory import MemoryStore
from omnisession.plugins import registry

from .data import populate, snapshot
from .sdk_stores import sqlite_session_file


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    status, out, _ = run(capsys, *argv, "--json")
    return status, json.loads(out)


@pytest.fixture
def store_url() -> str:
    """A memory:// engine shared by every store this process opens on the name."""
    url = f"memory://{uuid.uuid4().hex}"
    asyncio.run(populate(open_store(url)))
    return url


ADK_EVENT = {
    "author": "helper",
    "invocation_id": "inv-1",
    "content": {
        "role": "model",
        "parts": [
            {"text": "Let me remember that."},
            {"function_call": {"name": "remember_name", "args": {"name": "Ada"}}},
        ],
    },
    "actions": {"state_delta": {"user:name": "Ada"}},
}
ADK_RESULT = {
    "author": "helper",
    "invocation_id": "inv-1",
    "content": {
        "role": "user",
        "parts": [{"function_response": {"name": "remember_name", "response": {"ok": True}}}],
    },
}
OPENAI_ITEMS = [
    {"role": "user", "content": "What is the weather?"},
    {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city":"Oslo"}'},
    {"type": "function_call_output", "call_id": "c1", "output": "rain"},
    {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "It rains in Oslo."}],
    },
]


def test_sessions_ls_pages_as_table_and_json(store_url: str, capsys: Any) -> None:
    status, out, err = run(capsys, "sessions", "ls", store_url, "--app", "support")
    assert status == 0
    assert out.splitlines()[0].split() == ["USER", "SESSION", "UPDATED", "CREATED", "REVISION"]
    assert len(out.splitlines()) == 7 and "6 sessions" in err

    status, page = run_json(
        capsys, "sessions", "ls", store_url, "--app", "support", "--page-size", "4"
    )
    assert status == 0 and len(page["sessions"]) == 4 and page["next_cursor"]
    status, rest = run_json(
        capsys, "sessions", "ls", store_url, "--app", "support", "--cursor", page["next_cursor"]
    )
    assert len(rest["sessions"]) == 2 and rest["next_cursor"] is None
    first = page["sessions"][0]
    assert set(first) == {"app", "user", "session", "created_at", "updated_at", "revision"}

    status, out, _ = run(
        capsys,
        "sessions",
        "ls",
        store_url,
        "--app",
        "support",
        "--all",
        "--page-size",
        "4",
        "--json",
    )
    assert [json.loads(line)["session"] for line in out.splitlines()].count("thread-0") == 3
    status, page = run_json(
        capsys, "sessions", "ls", store_url, "--app", "support", "--user", "bob"
    )
    assert {s["user"] for s in page["sessions"]} == {"bob"}


def test_sessions_show_is_a_readable_timeline(capsys: Any) -> None:
    url = f"memory://{uuid.uuid4().hex}"

    async def fill() -> None:
        store = open_store(url)
        adk = SessionKey("app", "ada", "adk-thread")
        await store.create_session(adk, {"topic": "names", "app:tier": "gold"})
        await store.append_event(adk, ADK_EVENT, state_delta={"user:name": "Ada"})
        await store.append_event(adk, ADK_RESULT)
        await store.add_items(SessionKey("app", "ada", "openai-thread"), OPENAI_ITEMS)

    asyncio.run(fill())
    status, out, _ = run(capsys, "sessions", "show", url, "app", "ada", "adk-thread")
    assert status == 0
    assert "session state:" in out and 'topic = "names"' in out
    assert 'user:name = "Ada"' in out and 'app:tier = "gold"' in out
    lines = out.splitlines()
    assert any(
        "#1" in line and "helper" in line and "Let me remember that." in line for line in lines
    )
    assert any("tool call" in line and 'remember_name(name="Ada")' in line for line in lines)
    assert any("tool result" in line and 'remember_name -> {"ok":true}' in line for line in lines)
    assert any("state" in line and 'user:name = "Ada"' in line for line in lines)

    status, out, _ = run(capsys, "sessions", "show", url, "app", "ada", "openai-thread")
    assert "What is the weather?" in out and 'weather(city="Oslo")' in out
    assert "c1 -> rain" in out and "It rains in Oslo." in out

    status, out, _ = run(
        capsys, "sessions", "show", url, "app", "ada", "openai-thread", "--last", "1"
    )
    assert "It rains in Oslo." in out and "What is the weather?" not in out

    status, shown = run_json(capsys, "sessions", "show", url, "app", "ada", "adk-thread")
    assert shown["state"] == {
        "session": {"topic": "names"},
        "user": {"name": "Ada"},
        "app": {"tier": "gold"},
    }
    assert shown["events"][0]["data"] == ADK_EVENT
    assert [s["kind"] for s in shown["events"][0]["steps"]] == ["message", "tool call"]

    status, out, err = run(capsys, "sessions", "show", url, "app", "ada", "nope")
    assert status == 1 and "no session" in err and "Traceback" not in err


def test_sessions_rm_purge_and_forget_user(store_url: str, capsys: Any) -> None:
    status, result = run_json(
        capsys, "sessions", "rm", store_url, "support", "ada", "thread-0", "nope"
    )
    assert status == 0
    assert result["sessions"] == [
        {"session": "thread-0", "deleted": True},
        {"session": "nope", "deleted": False},
    ]

    status, dry = run_json(
        capsys, "purge", store_url, "--app", "support", "--idle", "0.001s", "--dry-run"
    )
    assert status == 0 and dry["sessions"] == 5 and dry["dry_run"] is True
    status, out, _ = run(capsys, "purge", store_url, "--app", "support", "--idle", "30d")
    assert status == 0 and "deleted 0 session(s)" in out

    status, erased = run_json(capsys, "forget-user", store_url, "support", "bob")
    assert status == 0 and erased["deleted_sessions"] == 2
    status, page = run_json(capsys, "sessions", "ls", store_url, "--app", "support")
    assert {s["user"] for s in page["sessions"]} == {"ada", "c:d/e {f}"}
    status, purged = run_json(
        capsys, "purge", store_url, "--app", "support", "--idle", "0.001s", "--user", "ada"
    )
    assert status == 0 and purged["deleted"] == 1


def test_export_import_and_copy_through_the_cli(
    store_url: str, tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "dump.jsonl"
    status, exported = run_json(capsys, "export", store_url, "-o", str(path))
    assert status == 0 and exported["sessions"] == 8 and exported["events"] == 20

    target = f"memory://{uuid.uuid4().hex}"
    status, imported = run_json(capsys, "import", target, str(path))
    assert status == 0 and imported["sessions_written"] == 8
    status, out, _ = run(capsys, "import", target, str(path))
    assert status == 0 and "everything was already there" in out

    copied_to = f"memory://{uuid.uuid4().hex}"
    status, copied = run_json(capsys, "copy", store_url, copied_to)
    assert status == 0 and copied["ok"] and copied["events_written"] == 20
    assert copied["verification"]["ok"]
    status, out, _ = run(capsys, "copy", store_url, copied_to, "--app", "support")
    assert status == 0 and "everything was already there" in out and "support" in out

    async def compare() -> None:
        assert await snapshot(open_store(target)) == await snapshot(open_store(store_url))
        assert await snapshot(open_store(copied_to)) == await snapshot(open_store(store_url))

    asyncio.run(compare())

    status, out, err = run(capsys, "export", store_url, "--app", "support", "--user", "ada")
    assert status == 0 and out.startswith('{"format":"omnisession-export"')
    assert "exported 1 app(s), 1 user(s), 2 session(s), 6 event(s)" in err


def test_a_failed_count_check_exits_1_with_the_reason(store_url: str, capsys: Any) -> None:
    target = f"memory://{uuid.uuid4().hex}"
    assert run(capsys, "copy", store_url, target)[0] == 0

    async def continue_one() -> None:
        await open_store(target).append_event(SessionKey("support", "ada", "thread-0"), {"x": 1})

    asyncio.run(continue_one())
    status, _, err = run(capsys, "copy", store_url, target)
    assert status == 1
    assert "count check failed" in err and "'ada', 'thread-0'" in err and "Traceback" not in err
    status, result = run_json(capsys, "copy", store_url, target)
    assert status == 1 and result["ok"] is False and not result["verification"]["ok"]


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["sessions", "ls", "nosuch://x", "--app", "a"], 2, "no backend handles the scheme"),
        (["sessions", "ls", "memory://?colour=red", "--app", "a"], 2, "unknown memory option"),
        (["sessions", "ls", "not a url", "--app", "a"], 2, "not a store URL"),
        (["sessions", "show", "memory://", "app", "", "s"], 2, "user_id must not be empty"),
        (["purge", "memory://", "--app", "a", "--idle", "30"], 2, "is not a duration"),
        (["copy", "nolist://", "memory://"], 2, "--app"),
        (["import", "memory://", "/nonexistent/file.jsonl"], 1, "No such file"),
        (["copy", "memory://", "openai+sqlite:///x.db", "--app", "a"], 1, "lifecycle"),
        (
            [
                "sessions",
                "ls",
                "openai+redis://127.0.0.1:9/0?command_timeout=5",
                "--app",
                "default",
            ],
            1,
            "cannot reach",
        ),
        (["sessions", "ls", "nolist://", "--app", "a"], 1, "unexpected RuntimeError: a bug"),
    ],
)
def test_errors_are_one_message_and_an_exit_status(
    argv: list[str], status: int, message: str, capsys: Any, no_list_scheme: None
) -> None:
    got, _, err = run(capsys, *argv)
    assert got == status, err
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1
    got, document = run_json(capsys, *argv)
    assert got == status and document["ok"] is False and message in document["error"]


def test_usage_errors_of_argparse_exit_2(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sessions", "ls", "memory://"])  # --app is required
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main(["sessions", "ls", "memory://", "--app", "a", "--page-size", "0"])
    assert exited.value.code == 2
    assert main(["sessions"]) == 2


class _NoListStore(MemoryStore):
    async def _list_apps(self) -> list[str]:
        raise Unsupported("this store cannot list its apps")

    async def _list_sessions(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")  # what the CLI does with an error nobody foresaw


@pytest.fixture
def no_list_scheme() -> Iterator[None]:
    """``nolist://``: a store that cannot list its apps (as adk+ stores), and whose
    session listing fails with an unexpected error."""
    reg = registry()
    reg.by_scheme["nolist"] = Backend("nolist", ("nolist",), lambda url, **_: _NoListStore())
    try:
        yield
    finally:
        del reg.by_scheme["nolist"]


def _cli(*argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "omnisession.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    async def write() -> str:
        async with sqlite_session_file(tmp_path) as written:
            for index in range(300):
                await written.session(f"conversation-{index:03}").add_items(
                    [{"role": "user", "content": "x" * 2000}] * 3
                )
            return written.url

    url = asyncio.run(write())
    for argv, expected in (
        (("sessions", "ls", url, "--app", "default", "--all"), 0),
        (("export", url), 1),
    ):
        process = _cli(*argv)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # like `| head -1`
        status = process.wait(timeout=120)
        err = process.stderr.read().decode()
        process.stderr.close()
        assert "Traceback" not in err and "BrokenPipeError" not in err, err
        assert status == expected, err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal() -> None:
    assert type(terminal_progress(io.StringIO())) is Progress
    assert type(terminal_progress(_Terminal(), quiet=True)) is Progress
    shown = terminal_progress(_Terminal())
    assert isinstance(shown, (RichProgress, LineProgress))
    for progress in (RichProgress(_Terminal()), LineProgress(_Terminal())):
        progress.begin("copy support", 3)
        progress.update(sessions=2, events=40)
        progress.end()
        progress.close()
    plain = _Terminal()
    line = LineProgress(plain)
    line.begin("copy support", 3)
    line.update(sessions=3, events=12)
    line.end()
    assert "copy support: 3/3 sessions, 12 events" in plain.getvalue()
