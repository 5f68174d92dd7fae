"""Concurrent first writes to a SQLite file that does not exist yet (issue 14, case 7).

Switching a new database into WAL mode takes a lock that SQLite does not wait
for under the busy handler, so two connections both switching a new file
failed with "database is locked" in about 5 of 100 runs, whatever
``busy_timeout`` was. The store now creates a new file as a WAL database
under a temporary name and links it into place (omnisession_sqlalchemy.sqlite_files);
connections only read the mode.

Each test repeats the race on many new files: before the fix, 200 runs with two
event loops failed 0-22 times (14, 22 and 15 in three runs on a loaded machine)
and 150 runs with two processes 2-18 writes of 300, so a run of the tests without
a failure is what proves the fix (0 in every run since). This module
imports nothing but the public API, so the same tests can be run against an
older checkout to count its failures.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from omnisession import SessionKey, open_store

LOOP_RUNS = 200
PROCESS_RUNS = 150


@contextmanager
def _new_files(count: int) -> Iterator[list[str]]:
    """``count`` paths of files that do not exist yet, each in its own directory."""
    root = tempfile.mkdtemp(prefix="omnisession-first-write-")
    try:
        paths = []
        for index in range(count):
            os.mkdir(os.path.join(root, str(index)))
            paths.append(os.path.join(root, str(index), "store.db"))
        yield paths
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _first_write(path: str, tag: str, barrier: Any) -> str | None:
    """Open a store on ``path``, wait for the other writer, write; the error, if any."""
    try:
        async with open_store(f"sqlite:///{path}") as store:
            barrier.wait()
            await store.add_items(SessionKey("race", "u", tag), [{"by": tag}])
    except Exception as exc:  # the failure being counted
        return f"{type(exc).__name__}: {exc}"
    return None


def test_two_event_loops_write_first_to_a_new_file() -> None:
    """Two event loops (two threads, as Runner.run_sync makes) write first to new files."""
    failures: list[str] = []
    with _new_files(LOOP_RUNS) as paths:
        for path in paths:
            barrier = threading.Barrier(2)
            errors: list[str | None] = [None, None]

            def writer(
                index: int,
                path: str = path,
                barrier: Any = barrier,
                errors: list[str | None] = errors,
            ) -> None:
                errors[index] = asyncio.run(_first_write(path, f"loop{index}", barrier))

            threads = [threading.Thread(target=writer, args=(index,)) for index in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            failures.extend(error for error in errors if error is not None)
            if errors == [None, None]:
                assert _sessions_in(path) == {"loop0", "loop1"}
    assert not failures, f"{len(failures)} of {LOOP_RUNS} runs failed: {failures[:3]}"


def _sessions_in(path: str) -> set[str]:
    async def read() -> set[str]:
        async with open_store(f"sqlite:///{path}") as store:
            page = await store.list_sessions("race")
            return {record.key.session_id for record in page.sessions}

    return asyncio.run(read())


def _process_writer(paths: list[str], tag: str, barrier: Any, results: Any) -> None:
    """A worker process: the first write to each file, in step with the other worker."""
    for path in paths:
        results.put(asyncio.run(_first_write(path, tag, barrier)))


def test_two_processes_write_first_to_a_new_file() -> None:
    """Two processes write first to the same new files, in lock step."""
    context = multiprocessing.get_context("spawn")
    with _new_files(PROCESS_RUNS) as paths:
        barrier = context.Barrier(2)
        results = context.Queue()
        workers = [
            context.Process(
                target=_process_writer, args=(paths, f"process{index}", barrier, results)
            )
            for index in range(2)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=120) for _ in range(2 * PROCESS_RUNS)]
        for worker in workers:
            worker.join(60)
        assert [worker.exitcode for worker in workers] == [0, 0]
    failures = [outcome for outcome in outcomes if outcome is not None]
    assert not failures, f"{len(failures)} of {2 * PROCESS_RUNS} writes failed: {failures[:3]}"
