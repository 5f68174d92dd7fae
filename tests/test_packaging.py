"""What each built distribution carries, read from the BUILT artifacts (issue 15 item 3).

The artifacts come from ``make dist`` itself (into a temporary directory): every
distribution's sdist, its wheel built from that sdist, and ``twine check --strict``
on all of them. Set ``OMNISESSION_DIST=DIR`` to check artifacts built already
(``make first-hour`` does). Each wheel and sdist must have: the readme as a
Markdown long description, the MIT license expression and the LICENSE file,
``py.typed``, classifiers, project URLs, the same version, and compatible-release
pins (``~=``) on the project's own distributions; the framework extras carry tested
ranges (a lower and an upper bound).
"""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
VERSION = "0.2.0"
#: distribution -> its import package (the folder that must hold py.typed)
DISTRIBUTIONS = {
    "omnisession": "omnisession",
    "omnisession-conformance": "omnisession_conformance",
    "omnisession-sqlalchemy": "omnisession_sqlalchemy",
    "omnisession-redis": "omnisession_redis",
    "omnisession-aws": "omnisession_aws",
    "omnisession-bench": "omnisession_bench",
}
OWN = set(DISTRIBUTIONS)
#: Third-party requirements that must carry a tested range (lower AND upper bound).
FRAMEWORKS = {"openai-agents", "google-adk"}
REQUIRED_CLASSIFIERS = {
    "Programming Language :: Python :: 3 :: Only",
    "Typing :: Typed",
    "Intended Audience :: Developers",
}


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("OMNISESSION_DIST")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("dist")
    # `-o .venv/.installed`: never reinstall the shared venv from inside a test.
    result = subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", "dist", f"DIST={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"make dist failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.count("PASSED") == 2 * len(DISTRIBUTIONS), result.stdout
    return out


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(text: str) -> Message:
    return Parser().parsestr(text)


def _artifacts(dist_dir: Path) -> dict[tuple[str, str], Path]:
    found: dict[tuple[str, str], Path] = {}
    for path in dist_dir.iterdir():
        if path.name.endswith(".whl"):
            name = path.name.split("-")[0]
            found[(_normal(name), "wheel")] = path
        elif path.name.endswith(".tar.gz"):
            name = path.name[: -len(".tar.gz")].rsplit("-", 1)[0]
            found[(_normal(name), "sdist")] = path
    return found


def _read(path: Path) -> tuple[Message, set[str], dict[str, str]]:
    """(metadata, file names, texts of README/LICENSE) of a wheel or sdist."""
    texts: dict[str, str] = {}
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
            meta = _parse(archive.read(meta_name).decode())
            for name in names:
                if name.endswith(".dist-info/licenses/LICENSE"):
                    texts["LICENSE"] = archive.read(name).decode()
        return meta, names, texts
    with tarfile.open(path) as archive:
        names = {
            member.name.split("/", 1)[1] for member in archive.getmembers() if "/" in member.name
        }
        top = archive.getmembers()[0].name.split("/", 1)[0]
        meta = _parse(archive.extractfile(f"{top}/PKG-INFO").read().decode())  # type: ignore[union-attr]
        for wanted in ("README.md", "LICENSE"):
            member = archive.extractfile(f"{top}/{wanted}")
            if member is not None:
                texts[wanted] = member.read().decode()
    return meta, names, texts


CASES = [(dist, kind) for dist in DISTRIBUTIONS for kind in ("wheel", "sdist")]


def test_every_distribution_was_built(dist_dir: Path) -> None:
    assert set(_artifacts(dist_dir)) == set(CASES)


@pytest.mark.parametrize(("dist", "kind"), CASES, ids=[f"{d}-{k}" for d, k in CASES])
def test_built_metadata(dist_dir: Path, dist: str, kind: str) -> None:
    path = _artifacts(dist_dir)[(dist, kind)]
    meta, names, texts = _read(path)
    package = DISTRIBUTIONS[dist]
    assert _normal(meta["Name"]) == dist and meta["Version"] == VERSION

    # readme: the long description, in Markdown, shipped in the sdist too
    assert meta["Description-Content-Type"] == "text/markdown"
    description = meta.get_payload()
    assert isinstance(description, str)
    assert description.lstrip().startswith("# "), description[:80]
    assert "README.md" not in texts or texts["README.md"].strip() == description.strip()
    dead = re.findall(r"\]\((?!https?://|#|mailto:)([^)]+)\)", description)
    assert not dead, f"{dist}: relative links are dead on PyPI, use absolute URLs: {dead}"

    # license: the SPDX expression and the file itself
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert "MIT License" in texts.get("LICENSE", ""), f"{path.name} has no LICENSE file"
    assert "License" not in {c.split(" :: ")[0] for c in meta.get_all("Classifier", [])}

    # typed
    py_typed = f"{package}/py.typed" if kind == "wheel" else f"src/{package}/py.typed"
    assert py_typed in names, f"{path.name} has no {py_typed}"

    classifiers = set(meta.get_all("Classifier", []))
    assert classifiers >= REQUIRED_CLASSIFIERS, REQUIRED_CLASSIFIERS - classifiers
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL", []))
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(urls), urls
    assert all(url.startswith("https://") for url in urls.values()), urls
    assert meta["Requires-Python"] == ">=3.11"

    for line in meta.get_all("Requires-Dist", []):
        requirement = Requirement(line)
        name = _normal(requirement.name)
        if name in OWN and name != dist:
            assert str(requirement.specifier) == f"~={VERSION}", f"{dist}: {line}"
        if name in FRAMEWORKS:
            operators = {spec.operator for spec in requirement.specifier}
            assert {">=", "<"} <= operators, f"{dist}: {line} needs a tested range"


def test_versions_agree_with_the_code() -> None:
    import omnisession
    import omnisession_bench

    assert omnisession.__version__ == omnisession_bench.__version__ == VERSION
