"""`omnisession conformance URL` against the real engines, as a user runs it.

The command works in app namespaces of its own, so it runs against the shared
`test` databases without emptying them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

URLS = {
    "sqlite": "sqlite:///conformance.db",
    "postgresql": "postgresql://root@127.0.0.1/test",
    "mysql": "mysql://root@127.0.0.1/test",
}


@pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())
def test_conformance_command_exits_0_with_every_capability(url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "omnisession.cli", "conformance", url, "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["level"] == "BASE+cross_process+large_entries+persistent"
    assert [r for r in report["results"] if r["status"] != "passed"] == []
