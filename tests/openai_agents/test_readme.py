"""The README's "Use with OpenAI Agents SDK" example runs as written and prints what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Use with OpenAI Agents SDK"


def first_python_block_after(heading: str) -> str | None:
    text = README.read_text(encoding="utf-8") if README.is_file() else ""
    lines = text.splitlines()
    if heading not in lines:
        return None
    rest = "\n".join(lines[lines.index(heading) + 1 :])
    match = re.search(r"^```python\n(.*?)^```", rest, re.DOTALL | re.MULTILINE)
    return match.group(1) if match else None


def test_readme_openai_agents_example_runs(tmp_path: Path) -> None:
    code = first_python_block_after(HEADING)
    if code is None:
        pytest.skip(f"README.md has no {HEADING!r} section with a python block yet")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["OPENAI_AGENTS_DISABLE_TRACING"] = "1"  # offline: no trace export either
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
    assert done.stdout.splitlines() == ["You said hello.", "You are talking to Ada.", "4"]
    assert (tmp_path / "chat.db").is_file()
