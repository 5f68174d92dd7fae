"""The ``omnisession`` command as a new user meets it (issue 15, a new user's first hour).

``--version`` and ``python -m omnisession``; no traceback for any bad URL or closed
pipe in any command (one error line, exit 1 or 2); ``backends`` lists options and
optional capabilities and exits 1 when a plugin failed to load; the bench labels
its throughput rows with the writer count it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from omnisession import cli
from omnisession.errors import BackendUnavailable

OMNISESSION = [sys.executable, "-m", "omnisession"]
BAD_URLS = ["foo://x", "notaurl", "redis://localhost:6379/0?tll=5"]
#: Every command that takes a store URL, with the URL in its place (``{url}``).
COMMANDS = [
    ["bench", "{url}", "--histories", "100", "--reps", "3", "--sessions", "3", "--quiet"],
    ["demo", "--url", "{url}"],
    ["conformance", "{url}"],
    ["sessions", "ls", "{url}", "--app", "a"],
    ["sessions", "show", "{url}", "a", "u", "s"],
    ["sessions", "rm", "{url}", "a", "u", "s"],
    ["purge", "{url}", "--app", "a", "--idle", "30d"],
    ["forget-user", "{url}", "a", "u"],
    ["export", "{url}"],
    ["import", "{url}", "{export_file}"],
    ["copy", "{url}", "memory://"],
    ["copy", "memory://", "{url}"],
]


def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **kwargs.pop("env", {})}
    return subprocess.run(
        [*OMNISESSION, *args], capture_output=True, text=True, timeout=120, env=env, **kwargs
    )


def assert_one_error_line(stderr: str, command: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{stderr}"
    assert lines[0].startswith(f"omnisession {command}:"), lines[0]


# -- version -------------------------------------------------------------------------------


def test_version_and_python_dash_m() -> None:
    expected = f"omnisession {version('omnisession')}"
    assert run("--version").stdout.strip() == expected
    entry = Path(sys.executable).with_name("omnisession")
    assert (
        subprocess.run(
            [str(entry), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        == expected
    )
    import omnisession

    assert omnisession.__version__ == version("omnisession")


# -- bad URLs: one line, exit 2, in every command ----------------------------------------


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("template", COMMANDS, ids=lambda t: "-".join(t[:2]).replace("{url}", ""))
def test_a_bad_url_is_one_line_and_status_2(
    url: str, template: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export_file = tmp_path / "export.jsonl"
    export_file.write_text("")
    argv = [part.format(url=url, export_file=export_file) for part in template]
    status = cli.main(argv)
    captured = capsys.readouterr()
    command = " ".join(argv[:2]) if argv[0] == "sessions" else argv[0]
    assert status == 2, (argv, status, captured.err)
    assert_one_error_line(captured.err, command)


def test_an_unreachable_store_is_one_line_and_status_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    closed = "postgresql://nobody@127.0.0.1:1/nothing?command_timeout=5"
    for argv in (["demo", "--url", closed], ["sessions", "ls", closed, "--app", "a"]):
        assert cli.main(argv) == 1
        assert_one_error_line(capsys.readouterr().err, " ".join(argv[:2]).replace(" --url", ""))


# -- closed pipes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["backends", "--json"],
        ["backends"],
        ["conformance", "memory://", "-k", "hostile_input"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_a_closed_pipe_ends_quietly(argv: list[str]) -> None:
    process = subprocess.Popen(
        [*OMNISESSION, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `| head -0`: every write to stdout now fails with EPIPE
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_head_dash_1_reads_the_first_line() -> None:
    result = subprocess.run(
        f"{' '.join(OMNISESSION)} backends --json | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout == "{\n" and result.stderr == "", result


# -- the one handler ------------------------------------------------------------------------


def _raising(exc: BaseException) -> Any:
    def handler(args: argparse.Namespace) -> int:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (BackendUnavailable("the server went away; retry"), 1),
        (ValueError("bad cursor"), 2),
        (FileNotFoundError(2, "No such file or directory", "x.jsonl"), 1),
        (ModuleNotFoundError("No module named 'asyncpg'", name="asyncpg"), 1),
        (RuntimeError("a bug"), 1),
        (ExceptionGroup("many", [BackendUnavailable("first"), ValueError("second")]), 1),
        (KeyboardInterrupt(), 130),
        (BrokenPipeError(), 0),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_every_error_is_one_line_with_its_status(
    exc: BaseException, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(command="thing")
    assert cli.run_handler(_raising(exc), args) == status
    err = capsys.readouterr().err
    if status == 0:
        assert err == ""
        return
    assert_one_error_line(err, "thing")
    if isinstance(exc, RuntimeError):
        assert "unexpected RuntimeError: a bug" in err and cli.DEBUG_VARIABLE in err
    if isinstance(exc, ModuleNotFoundError):
        assert "asyncpg" in err


def test_debug_variable_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli.DEBUG_VARIABLE, "1")
    with pytest.raises(RuntimeError, match="a bug"):
        cli.run_handler(_raising(RuntimeError("a bug")), argparse.Namespace(command="thing"))


# -- backends -------------------------------------------------------------------------------


def test_backends_lists_options_and_optional_capabilities() -> None:
    result = run("backends", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    by_name = {backend["name"]: backend for backend in data["backends"]}
    assert data["errors"] == []
    redis = by_name["redis"]
    assert {"ttl", "persistent", "cluster"} <= set(redis["optional_capabilities"])
    ttl = next(option for option in redis["options"] if option["name"] == "ttl")
    assert set(ttl) >= {"name", "type", "default", "doc"} and ttl["doc"]
    assert by_name["memory"]["options"] == [] and by_name["memory"]["optional_capabilities"] == {}
    for backend in data["backends"]:
        for option in backend["options"]:
            assert option["type"] in {"bool", "int", "float", "str"}, option
            assert option["doc"], (backend["name"], option["name"])
    text = run("backends").stdout
    assert "optional capabilities:" in text and "command_timeout" in text
    assert "with ?ttl=SECONDS" in text


def test_backends_exits_1_when_a_plugin_fails_to_load(tmp_path: Path) -> None:
    info = tmp_path / "broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[omnisession]\nbroken = no_such_module_xyz\n")
    env = {"PYTHONPATH": str(tmp_path)}
    for argv in (["backends"], ["backends", "--json"]):
        result = run(*argv, env=env)
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr
        assert "omnisession backends: error: plugin broken (broken-plugin)" in result.stderr
        assert "no_such_module_xyz" in result.stderr
    data = json.loads(run("backends", "--json", env=env).stdout)
    assert [error["plugin"] for error in data["errors"]] == ["broken"]
    assert any(backend["name"] == "memory" for backend in data["backends"])  # the rest loads


def test_a_missing_optional_command_names_its_distribution(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = cli.build_parser

    def without_bench() -> Any:
        parser, subparsers = real()
        subparsers.choices.pop("bench")
        return parser, subparsers

    monkeypatch.setattr(cli, "build_parser", without_bench)
    assert cli.main(["bench", "memory://"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "omnisession bench: error: this command comes with omnisession-bench: "
        "pip install omnisession-bench\n"
    )


# -- the bench labels -----------------------------------------------------------------------


def test_bench_labels_throughput_rows_with_the_writers_it_ran(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [
        "bench",
        "memory://",
        "--histories",
        "100",
        "--reps",
        "3",
        "--sessions",
        "3",
        "--writers",
        "3",
        "--writes",
        "2",
        "--layers",
        "store",
        "--budget",
        "0.1",
        "--quiet",
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "3 writers, distinct sessions" in out and "3 writers, one session" in out
    assert "32 writers" not in out
