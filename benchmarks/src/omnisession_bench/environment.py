"""The machine and the versions a benchmark ran with (stated in every result)."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from importlib import metadata
from typing import Any

__all__ = ["machine", "versions"]

_DISTRIBUTIONS = (
    "omnisession",
    "omnisession-sqlalchemy",
    "omnisession-redis",
    "omnisession-aws",
    "omnisession-bench",
    "openai-agents",
    "google-adk",
    "SQLAlchemy",
    "aiosqlite",
    "asyncpg",
    "asyncmy",
    "redis",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """CPU, cores, memory, OS and Python of this machine."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    """Installed versions of omnisession, the frameworks and the drivers."""
    found: dict[str, str] = {}
    for name in _DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    found["sqlite (library)"] = sqlite3.sqlite_version
    commit = _git_commit()
    if commit:
        found["omnisession git commit"] = commit
    return found


def _git_commit() -> str | None:
    """The commit of the checkout the benchmark runs from, if it is a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        done = subprocess.run(
            ["git", "-C", here, "log", "-1", "--format=%h %cd", "--date=format:%Y-%m-%d %H:%M"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None
