"""A new user's first hour: every README code block runs, as written, with ONLY what
the README tells the user to install (issue 15 item 4).

The test reads the blocks and their install lines from the READMEs themselves
(``README.md`` and each distribution's README), so it follows the text as it
changes. For each section that has blocks to run, it creates a fresh virtual
environment, installs exactly what the README says (the project's own
distributions from the wheels ``make dist`` built, third-party ones from PyPI,
through pip's cache) and runs the section's blocks in order, in a fresh working
directory. A block passes when it exits 0 without a traceback.

Convention for README authors
-----------------------------

* **Which blocks run.** Fenced blocks whose language is ``python`` / ``py`` (run with
  the venv's ``python``; a block with top-level ``await`` runs as it would in
  ``python -m asyncio``) or ``sh`` / ``bash`` / ``shell`` / ``console`` (run with
  ``bash -e``; in a ``console`` block only the lines starting with ``$ `` are
  commands). Other blocks (``toml``, ``text``, no language) are not run.
* **Repository commands are not run**: shell lines starting with ``make``,
  ``.venv/``, ``git`` or ``cd`` are for a clone of the repository (CI runs
  ``make lint``, ``make dist`` and ``make test`` itself).
* **What gets installed.** A block runs with the ``pip install ...`` commands of its
  section: the text from the nearest heading above it down to the next heading,
  as inline code spans (`` `pip install 'omnisession[openai]'` ``) or lines of a
  shell block. A section with no install command of its own inherits those of
  its enclosing section (the nearest heading of a lower level), and so on up.
  A section that has none in itself or its enclosing sections uses those of the
  README's install section (a heading ``Install``, ``Installation`` or
  ``Installing``, at any level) when that section comes before it. Inline commands
  are installed before the section's first block; install lines inside a shell
  block run when that block runs (that is the user's install step). Nothing else
  is installed: a section whose example needs a backend plugin must say so in a
  ``pip install`` line of its own (or of its install section).
* **Opting a block out.** An HTML comment on the nearest non-blank line above the
  fence, invisible on GitHub and PyPI: ``<!-- first-hour: skip: REASON -->``
  (e.g. "needs an AWS account"). The reason is required and shown in the report.
* **Environment.** No model API keys (examples use the offline scripted models);
  the PostgreSQL, MariaDB and Redis servers that ``make test`` uses are reachable
  at the addresses the README examples use (127.0.0.1 / localhost). Blocks of
  one section share their working directory and venv; processes a block leaves
  in the background (``cmd &``) are stopped when the section ends.

Running it
----------

Installing google-adk and openai-agents into fresh venvs takes minutes, beyond
what ``make test`` can afford, so the section tests run only under
``make first-hour`` (which CI runs after ``make test``): it builds the wheels
(``make dist``) and sets ``OMNISESSION_FIRST_HOUR`` to their folder. Without it
they skip; the parser tests at the end of this file always run.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .locks import machine_lock

ROOT = Path(__file__).resolve().parents[1]
READMES = [
    ROOT / "README.md",
    ROOT / "core" / "README.md",
    ROOT / "conformance" / "README.md",
    ROOT / "benchmarks" / "README.md",
    *sorted((ROOT / "plugins").glob("*/README.md")),
]
WHEELS_VARIABLE = "OMNISESSION_FIRST_HOUR"
#: Seconds a section's background jobs get to stop on SIGTERM, before SIGKILL.
STOP_TIMEOUT = 10.0
PYTHON_LANGS = {"python", "py"}
SHELL_LANGS = {"sh", "bash", "shell", "console"}
REPOSITORY_COMMANDS = ("make", ".venv/", "git", "cd")
SKIP_MARKER = re.compile(r"^<!--\s*first-hour:\s*skip:\s*(?P<reason>.*?)\s*-->$")
INSTALL = re.compile(r"^(?:python3? -m )?pip install\s+\S")
INSTALL_HEADING = re.compile(r"^(install|installation|installing)\b", re.IGNORECASE)
INLINE_INSTALL = re.compile(r"`((?:python3? -m )?pip install [^`]+)`")
BLOCK_TIMEOUT = 600
_KEYS = ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI")


# -- reading a README ----------------------------------------------------------------------


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    skip: str | None = None

    @property
    def runnable(self) -> bool:
        """A python block, or a shell block with a command that is not a repository one."""
        return self.lang in PYTHON_LANGS or (self.lang in SHELL_LANGS and bool(self.commands()))

    def commands(self) -> list[str]:
        """The shell commands of a shell block, repository commands left out."""
        lines = self.code.splitlines()
        if self.lang == "console":
            lines = [line[2:] for line in lines if line.startswith("$ ")]
        return [
            line
            for line in lines
            if line.strip() and not line.lstrip().startswith(REPOSITORY_COMMANDS)
        ]

    def installs(self) -> list[str]:
        if self.lang not in SHELL_LANGS:
            return []
        return [_strip_comment(c) for c in self.commands() if INSTALL.match(c.strip())]


@dataclass
class Section:
    readme: Path
    level: int
    title: str
    line: int
    parent: Section | None
    blocks: list[Block] = field(default_factory=list)
    inline_installs: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        where = self.readme.relative_to(ROOT)
        return f"{where}:{self.line} {'#' * self.level} {self.title}".rstrip()

    def own_installs(self) -> list[str]:
        return self.inline_installs + [c for b in self.blocks for c in b.installs()]

    install_section: Section | None = None

    def installs(self) -> list[str]:
        """Install commands to run BEFORE the blocks (the blocks' own run with them)."""
        if self.own_installs():
            return list(self.inline_installs)
        section = self.parent
        while section is not None:
            if section.own_installs():
                return section.own_installs()
            section = section.parent
        if self.install_section is not None:
            return self.install_section.own_installs()
        return []

    def runnable(self) -> list[Block]:
        return [b for b in self.blocks if b.runnable]


def _strip_comment(command: str) -> str:
    """``pip install x  # what it is`` -> ``pip install x`` (shlex-aware)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:
        return command.strip()
    return shlex.join(words)


def parse_readme(path: Path, text: str | None = None) -> list[Section]:
    """The sections of a README with their blocks and inline install commands."""
    text = path.read_text(encoding="utf-8") if text is None else text
    lines = text.splitlines()
    top = Section(path, 0, "", 1, None)
    sections = [top]
    stack = [top]
    fence: str | None = None
    block: Block | None = None
    body: list[str] = []
    prose: dict[int, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if fence is not None:
            if stripped == fence:
                assert block is not None
                block.code = "\n".join(body) + "\n"
                sections[-1].blocks.append(block)
                fence, block = None, None
            else:
                body.append(line)
            continue
        opening = re.match(r"^(```+|~~~+)\s*([\w+-]*)", stripped)
        if opening:
            fence, body = opening.group(1), []
            block = Block(opening.group(2).lower(), "", number, _skip_reason(lines, number))
            continue
        heading = re.match(r"^(#{1,6})\s+(.*?)\s*#*$", line)
        if heading:
            level = len(heading.group(1))
            while stack and stack[-1].level >= level:
                stack.pop()
            section = Section(path, level, heading.group(2), number, stack[-1] if stack else top)
            sections.append(section)
            stack.append(section)
            continue
        prose.setdefault(id(sections[-1]), []).append(line)
    for section in sections:
        # An inline code span may wrap onto the next line: read the section's prose as one text.
        text = " ".join(prose.get(id(section), []))
        section.inline_installs = [
            " ".join(m.group(1).split()) for m in INLINE_INSTALL.finditer(text)
        ]
    for number, section in enumerate(sections):
        section.install_section = next(
            (s for s in sections[:number] if INSTALL_HEADING.match(s.title) and s.own_installs()),
            None,
        )
    return sections


def _skip_reason(lines: list[str], fence_line: int) -> str | None:
    for previous in reversed(lines[: fence_line - 1]):
        if not previous.strip():
            continue
        match = SKIP_MARKER.match(previous.strip())
        if match is None:
            return None
        if not match.group("reason"):
            raise ValueError(f"first-hour skip marker above line {fence_line} needs a reason")
        return match.group("reason")
    return None


def runnable_sections() -> list[Section]:
    return [
        section
        for readme in READMES
        if readme.is_file()
        for section in parse_readme(readme)
        if section.runnable()
    ]


# -- running a section ---------------------------------------------------------------------


def _has_top_level_await(code: str) -> bool:
    try:
        compile(code, "<block>", "exec", flags=ast.PyCF_ONLY_AST)
        compile(code, "<block>", "exec")
    except SyntaxError:
        try:
            compile(code, "<block>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError:
            return False
        return True
    return False


_ASYNC_RUNNER = """\
import ast, asyncio, sys
path = sys.argv[1]
code = compile(open(path, encoding="utf-8").read(), path, "exec",
               flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__", "__file__": path})
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""


class Environment:
    """A fresh venv and working directory for one section; runs its commands."""

    def __init__(self, root: Path, wheels: Path) -> None:
        self.venv = root / "venv"
        self.cwd = root / "work"
        self.cwd.mkdir(parents=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(self.venv)
        bin_dir = self.venv / "bin"
        env = {k: v for k, v in os.environ.items() if k not in _KEYS}
        for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
            env.pop(name, None)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.venv)
        # The project's wheels; PyPI (and pip's cache) for everything else.
        env["PIP_FIND_LINKS"] = " ".join(filter(None, [str(wheels), env.get("PIP_FIND_LINKS")]))
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env["PIP_NO_COMPILE"] = "1"  # bytecode is compiled on import, for what is imported
        env["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
        self.env = env
        self.groups: list[int] = []
        self.log: list[str] = []

    def shell(self, script: str, what: str) -> None:
        self._run(["bash", "-e", "-c", script], what)

    def python(self, code: str, path: Path, what: str) -> None:
        path.write_text(code, encoding="utf-8")
        if _has_top_level_await(code):
            runner = path.with_name("run_async.py")
            runner.write_text(_ASYNC_RUNNER, encoding="utf-8")
            self._run([str(self.venv / "bin" / "python"), str(runner), str(path)], what)
        else:
            self._run([str(self.venv / "bin" / "python"), str(path)], what)

    def _run(self, argv: list[str], what: str) -> None:
        # Output goes to files, not pipes: a job the block leaves in the background
        # (`server &`) keeps its copies of them, and must not hold the block open.
        out_path = self.cwd.parent / f"out{len(self.groups)}.txt"
        err_path = self.cwd.parent / f"err{len(self.groups)}.txt"
        with out_path.open("w") as out_file, err_path.open("w") as err_file:
            process = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=self.env,
                stdout=out_file,
                stderr=err_file,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its background jobs are stopped with the section
            )
        self.groups.append(process.pid)
        try:
            process.wait(timeout=BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill(process.pid)
            process.wait()
        out = out_path.read_text(errors="replace")
        err = err_path.read_text(errors="replace")
        self.log.append(f"$ {what}\n{out}{err}")
        if process.returncode != 0 or "Traceback (most recent call last)" in err:
            tail = "\n".join(err.splitlines()[-25:])
            status = "timed out" if process.returncode < 0 else f"exit {process.returncode}"
            pytest.fail(
                f"{what} failed ({status}):\n--- stdout\n{out[-2000:]}\n--- stderr (end)\n{tail}",
                pytrace=False,
            )

    @staticmethod
    def _kill(group: int, how: signal.Signals = signal.SIGTERM) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, how)

    def close(self) -> None:
        """Stop what the blocks left running, and return once it has stopped.

        Returning earlier let the next section on the same port (a moto server on
        5000) find the port still taken by a server that was shutting down: its own
        server did not start and its commands ran against the dying one.
        """
        for group in self.groups:
            self._kill(group)
        deadline = time.monotonic() + STOP_TIMEOUT
        while running := _running(self.groups):
            if time.monotonic() > deadline:
                for group in running:
                    self._kill(group, signal.SIGKILL)
                deadline = time.monotonic() + STOP_TIMEOUT
            time.sleep(0.05)


def _running(groups: list[int]) -> set[int]:
    """The process groups among ``groups`` that still have a live process (zombies, which
    their reaper may never collect in a container, do not count)."""
    running: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended meanwhile
            continue
        # "pid (name) state ppid pgrp ...": the name may hold spaces and parentheses
        state, _ppid, group = text[text.rindex(")") + 2 :].split()[:3]
        if int(group) in groups and state != "Z":
            running.add(int(group))
    return running


def _wheels() -> Path:
    folder = os.environ.get(WHEELS_VARIABLE)
    if not folder:
        pytest.skip(f"run by `make first-hour` (it builds the wheels and sets {WHEELS_VARIABLE})")
    path = Path(folder)
    assert any(path.glob("omnisession-*.whl")), f"no wheels in {path}: run make dist"
    return path


SECTIONS = runnable_sections()


def _ports(section: Section) -> list[int]:
    """The local ports the section's blocks serve on (``--port 5000``: a moto server)."""
    return sorted(
        {
            int(port)
            for block in section.runnable()
            if block.skip is None
            for port in re.findall(r"--port\s+(\d+)", block.code)
        }
    )


@pytest.mark.parametrize("section", SECTIONS, ids=[section.name for section in SECTIONS])
def test_readme_section_runs_with_only_what_it_says_to_install(
    section: Section, tmp_path: Path
) -> None:
    wheels = _wheels()
    if all(block.skip is not None for block in section.runnable()):
        pytest.skip("; ".join(f"line {b.line}: {b.skip}" for b in section.runnable()))
    environment = Environment(tmp_path, wheels)
    with contextlib.ExitStack() as held:
        # two sections serving on one port (the READMEs' moto on 5000) never run at once,
        # and the port is free again (the section's jobs stopped) before the lock is let go
        for port in _ports(section):
            held.enter_context(machine_lock(f"port-{port}"))
        held.callback(environment.close)
        for command in section.installs():
            environment.shell(command, command)
        for number, block in enumerate(section.runnable(), start=1):
            where = f"{section.readme.relative_to(ROOT)}:{block.line}"
            if block.skip is not None:
                continue
            if block.lang in PYTHON_LANGS:
                environment.python(block.code, tmp_path / f"block{number}.py", where)
            else:
                commands = block.commands()
                if commands:
                    environment.shell("\n".join(commands), f"{where}: {'; '.join(commands)}")


# -- install hints in fresh venvs ----------------------------------------------------------

#: (what is installed, URL) -> what the error must tell the user to install
HINTS = {
    ("omnisession", "redis://localhost:6379/0"): "pip install omnisession-redis",
    ("omnisession", "sqlite:///x.db"): "pip install omnisession-sqlalchemy",
    ("omnisession", "postgresql://u@127.0.0.1/db"): "omnisession-sqlalchemy[postgresql]",
    ("omnisession", "mysql://u@127.0.0.1/db"): "omnisession-sqlalchemy[mysql]",
    ("omnisession", "dynamodb://table"): "pip install omnisession-aws",
    ("omnisession", "adk+memory://"): "omnisession[adk]",
    ("omnisession", "adk+db://sqlite+aiosqlite:///x.db"): "omnisession[adk-db]",
    ("omnisession", "openai+postgresql://u@127.0.0.1/db"): "omnisession-sqlalchemy[postgresql]",
    ("omnisession-sqlalchemy", "postgresql://u@127.0.0.1/db"): "omnisession-sqlalchemy[postgresql]",
    ("omnisession-sqlalchemy", "mysql://u@127.0.0.1/db"): "omnisession-sqlalchemy[mysql]",
}
#: (what is installed, python arguments) -> what the error must tell the user to install
PYTHON_HINTS = {
    ("omnisession", ("-c", "import omnisession.openai_agents")): "omnisession[openai]",
    ("omnisession", ("-c", "import omnisession.adk")): "omnisession[adk]",
    ("omnisession-aws", ("-m", "omnisession_aws.testing", "--port", "0")): "omnisession-aws[test]",
}


@pytest.mark.parametrize(
    "installed", sorted({dist for dist, _ in HINTS} | {dist for dist, _ in PYTHON_HINTS})
)
def test_install_hints_name_the_right_distribution_and_extra(
    installed: str, tmp_path: Path
) -> None:
    wheels = _wheels()
    environment = Environment(tmp_path, wheels)
    try:
        environment.shell(f"pip install {installed}", f"pip install {installed}")
        bin_dir = environment.venv / "bin"
        wrong = []
        runs = [
            ([str(bin_dir / "omnisession"), "sessions", "ls", url, "--app", "a"], hint)
            for (dist, url), hint in HINTS.items()
            if dist == installed
        ] + [
            ([str(bin_dir / "python"), *arguments], hint)
            for (dist, arguments), hint in PYTHON_HINTS.items()
            if dist == installed
        ]
        for argv, hint in runs:
            done = subprocess.run(
                argv,
                cwd=environment.cwd,
                env=environment.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            traceback = argv[0].endswith("omnisession") and "Traceback" in done.stderr
            if done.returncode == 0 or hint not in done.stderr or traceback:
                last = done.stderr.strip().splitlines()[-1:] or [""]
                wrong.append(f"{' '.join(argv[1:])}: exit {done.returncode}, {last[0]!r}")
        assert not wrong, "install hints that do not name what to install:\n" + "\n".join(wrong)
    finally:
        environment.close()


# -- the convention itself (always runs, no venv) ------------------------------------------

SAMPLE = """\
# Title

```sh
make test
```

## Install

Run `pip install omnisession`.

## Use with X

`pip install 'omnisession[x]'
omnisession-sqlalchemy`, then:

```python
print("hi")
```

### Details

```python
await something()
```

<!-- first-hour: skip: needs an AWS account -->
```console
$ omnisession-aws create-table "dynamodb://t"
output line
```

## Plugins

```bash
pip install omnisession-redis   # Redis
.venv/bin/pytest tests/redis
omnisession backends
```

```toml
[x]
```

## Later

```python
import omnisession
```
"""


def test_the_convention_reads_blocks_installs_and_markers() -> None:
    sections = {s.title: s for s in parse_readme(ROOT / "SAMPLE.md", SAMPLE)}
    assert sections["Title"].runnable() == []  # only a repository command
    assert sections["Install"].runnable() == []
    use = sections["Use with X"]
    assert use.installs() == ["pip install 'omnisession[x]' omnisession-sqlalchemy"]
    details = sections["Details"]
    assert details.installs() == use.installs()  # inherited from the enclosing section
    python, console = details.runnable()
    assert _has_top_level_await(python.code) and not _has_top_level_await("print(1)\n")
    assert console.skip == "needs an AWS account"
    assert console.commands() == ['omnisession-aws create-table "dynamodb://t"']
    plugins = sections["Plugins"]
    assert plugins.installs() == []  # its own install line runs with its block
    assert sections["Later"].installs() == ["pip install omnisession"]  # the install section
    (bash,) = plugins.runnable()
    assert bash.installs() == ["pip install omnisession-redis"]
    assert bash.commands() == ["pip install omnisession-redis   # Redis", "omnisession backends"]


def test_a_skip_marker_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        parse_readme(ROOT / "X.md", "<!-- first-hour: skip: -->\n```python\npass\n```\n")


def test_every_readme_parses_and_has_blocks_to_run() -> None:
    found = {section.readme for section in SECTIONS}
    missing = [str(readme.relative_to(ROOT)) for readme in READMES if readme not in found]
    assert not missing, f"READMEs without a runnable block: {missing}"
    assert sys.version_info >= (3, 11)
