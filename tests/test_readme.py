"""Every example in README.md runs as written, offline, and prints what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
# Offline: no model API key reaches an example, and no trace is exported.
_KEYS = ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")

EXAMPLES = {
    "## Usage": (
        [
            "{'topic': 'billing', 'app:seen': True, 'user:name': 'Ada'} "
            "[{'role': 'user', 'content': 'hi'}]"
        ],
        "chat.db",
    ),
    "## Use with OpenAI Agents SDK": (
        ["You said hello.", "You are talking to Ada.", "4"],
        "chat.db",
    ),
    "## Use with Google ADK": (
        ["Hello, Ada!", "Your name is Ada.", "4 Your name is Ada."],
        "sessions.db",
    ),
    "### Compaction, long threads and forks": (
        ["5", "1 note 0", "[{'role': 'user', 'content': 'note 0'}]"],
        "chat.db",
    ),
    "### Paging: `list_sessions(page_size=...)` and `list_events`": (
        ["250", "turn-70 turn-119 turn-20"],
        None,
    ),
    "## Errors and time bounds": (["1"], None),
}


def first_python_block_after(heading: str) -> str:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert heading in lines, f"README.md lost its {heading!r} section"
    rest = "\n".join(lines[lines.index(heading) + 1 :])
    match = re.search(r"^```python\n(.*?)^```", rest, re.DOTALL | re.MULTILINE)
    assert match, f"README.md's {heading!r} section has no python block"
    return match.group(1)


@pytest.mark.parametrize("heading", EXAMPLES)
def test_readme_example_runs_and_prints_what_it_says(heading: str, tmp_path: Path) -> None:
    expected_output, database = EXAMPLES[heading]
    env = {k: v for k, v in os.environ.items() if k not in _KEYS}
    env["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", first_python_block_after(heading)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected_output
    if database is not None:  # the example wrote where it says
        assert (tmp_path / database).is_file()
