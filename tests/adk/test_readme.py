"""The README's "Use with Google ADK" example runs as written and prints what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Use with Google ADK"


def first_python_block_after(heading: str) -> str | None:
    text = README.read_text(encoding="utf-8") if README.is_file() else ""
    lines = text.splitlines()
    if heading not in lines:
        return None
    rest = "\n".join(lines[lines.index(heading) + 1 :])
    match = re.search(r"^```python\n(.*?)^```", rest, re.DOTALL | re.MULTILINE)
    return match.group(1) if match else None


def test_readme_adk_example_runs(tmp_path: Path) -> None:
    code = first_python_block_after(HEADING)
    if code is None:
        pytest.skip(f"README.md has no {HEADING!r} section with a python block yet")
    # Offline: no key for any model API in the example's environment.
    env = {k: v for k, v in os.environ.items() if k not in ("GOOGLE_API_KEY", "GEMINI_API_KEY")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Hello, Ada!", "Your name is Ada.", "4 Your name is Ada."]
    assert (tmp_path / "sessions.db").is_file()
