"""A bridge module imported without its framework says which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Makes the named top-level packages unimportable in a fresh interpreter, as on a
# machine where the extra was never installed.
_WITHOUT = """
import sys

class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Missing())
try:
    import {module}
except ModuleNotFoundError as exc:
    print(exc)
else:
    print("imported")
"""


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("omnisession.openai_agents", {"agents"}, "omnisession[openai]"),
        ("omnisession.adk", {"google"}, "omnisession[adk]"),
        ("omnisession.adk_testing", {"google"}, "omnisession[adk]"),
    ],
)
def test_a_missing_framework_names_the_extra(module: str, blocked: set[str], extra: str) -> None:
    script = _WITHOUT.format(blocked=blocked, module=module)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert f"pip install '{extra}'" in done.stdout
    assert module in done.stdout


def test_core_and_its_stores_need_no_framework() -> None:
    script = _WITHOUT.format(blocked={"agents", "google"}, module="omnisession.memory")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "imported"
