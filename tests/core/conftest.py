from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site directory with the two fixture plugins really installed by pip.

    Installed with --target rather than into the test environment, so other
    tests (and `omnisession backends` in the developer's venv) never see them.
    """
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(FIXTURES / "omnisession-fake-plugin"),
            str(FIXTURES / "omnisession-broken-plugin"),
        ],
        check=True,
    )
    return site


@pytest.fixture
def with_plugins(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Make the fixture plugins importable in this process, and rebuild the registry."""
    import omnisession.plugins

    monkeypatch.syspath_prepend(str(plugin_site))
    omnisession.plugins.registry(reload=True)
    yield plugin_site
    for name in [m for m in sys.modules if m.startswith("omnisession_fake_plugin")]:
        del sys.modules[name]
    monkeypatch.undo()
    omnisession.plugins.registry(reload=True)


def run_cli(*args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "omnisession.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
