"""Every shell command in README.md, docs/ and integrations/*/README.md is run or checked, so none goes stale.

Which blocks hold commands (see the README's "Where to go next"):

* ```` ```sh ```` — each line (``\\`` continues it; ``  # ...`` is a comment) runs with bash, in order, in a fresh
  copy of the project as ``make demo`` leaves it (a clean environment: no ``VPNRUNBOOK_*`` variable, its own
  ``HOME``). It must exit 0, or what its comment says (``# exit 2``, ``# exit 0/1``).
* ```` ```console ```` — ``$ command`` lines run the same way; the lines under one are its output: each must match
  a line the command printed (stdout or stderr), ``…`` standing for any text. A shown ``(exit N)`` is the exit
  code expected.
* ```` ```sh parse-only ```` (also ``console parse-only``) — commands that start servers, need Azure or take
  minutes: a ``vpnrunbook`` command is parsed by the CLI's own argument parser (every option and value it uses
  must be accepted, as ``--help`` lists them), ``make TARGET`` must name a Makefile target; other programs
  (``az``, ``export``, Airflow's) are not run.

Any other shell-like block (``bash``, ``shell``) is refused, so every command is in one of the three.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```([^`\s]*)(.*)$")
SHELL_LANGS = {"sh", "console"}
REFUSED_LANGS = {"bash", "shell", "zsh", "shell-session"}
EXIT_COMMENT = re.compile(r"\bexit (\d+(?:/\d+)*)")
RUN_TIMEOUT = 600


def documents() -> list[Path]:
    docs = [p for p in sorted((REPO / "docs").rglob("*.md")) if "seed-document" not in p.parts]
    return [REPO / "README.md", *docs, *sorted(REPO.glob("integrations/*/README.md"))]


@dataclass
class Command:
    text: str
    comment: str = ""
    output: list[str] = field(default_factory=list)  # console: the lines shown under it

    def expected_codes(self) -> set[int]:
        shown = [m for line in self.output if (m := re.search(r"\(exit (\d+)\)$", line))]
        if shown:
            return {int(shown[-1].group(1))}
        m = EXIT_COMMENT.search(self.comment)
        return {int(c) for c in m.group(1).split("/")} if m else {0}


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    parse_only: bool
    body: list[str]

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    def commands(self) -> list[Command]:
        out: list[Command] = []
        if self.lang == "console":
            for raw in self.body:
                if raw.startswith("$ "):
                    text, comment = _split_comment(raw[2:])
                    out.append(Command(text, comment))
                elif out:
                    out[-1].output.append(raw)
            return out
        pending = ""
        for raw in self.body:
            line = pending + raw
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1] + " "
                continue
            pending = ""
            text, comment = _split_comment(line)
            if text:
                out.append(Command(text, comment))
        return out


def _split_comment(line: str) -> tuple[str, str]:
    """``command  # comment`` → (command, comment); a ``#`` inside quotes or a word is not a comment."""
    stripped = line.strip()
    if stripped.startswith("#"):
        return "", stripped
    for m in re.finditer(r"\s#\s", line):
        before = line[:m.start()]
        if before.count("'") % 2 == 0 and before.count('"') % 2 == 0:
            return before.strip(), line[m.end():].strip()
    return stripped, ""


def blocks() -> list[Block]:
    found: list[Block] = []
    for path in documents():
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            m = FENCE.match(lines[i])
            if not m or not m.group(1):
                i += 1
                continue
            lang, rest = m.group(1), m.group(2).split()
            start = i
            i += 1
            body = []
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            i += 1
            if lang in SHELL_LANGS or lang in REFUSED_LANGS:
                found.append(Block(path, start + 1, lang, "parse-only" in rest, body))
    return found


BLOCKS = blocks()
RUNNABLE = [b for b in BLOCKS if b.lang in SHELL_LANGS and not b.parse_only]
PARSE_ONLY = [b for b in BLOCKS if b.lang in SHELL_LANGS and b.parse_only]


def test_every_shell_block_is_run_or_checked():
    refused = [f"{b.id} ({b.lang})" for b in BLOCKS if b.lang in REFUSED_LANGS]
    assert not refused, ("shell blocks the docs test does not know: use ```sh (run), ```console (run, output "
                         f"checked) or ```sh parse-only: {refused}")
    assert len(RUNNABLE) >= 5 and len(PARSE_ONLY) >= 3  # the collection found the README's and the guides' blocks
    readme = [b for b in BLOCKS if b.path.name == "README.md" and b.path.parent == REPO]
    assert any("make demo" in c.text for b in readme for c in b.commands())


def test_no_documented_change_window_is_a_fixed_date():
    """A change window written as dates is in the past the day after (the Airflow README's was)."""
    for b in BLOCKS:
        for c in b.commands():
            assert not re.search(r"change_window.*\d{4}-\d{2}-\d{2}T", c.text), f"{b.id}: {c.text}"


# ---- parse-only ------------------------------------------------------------------------------------------
def _vpnrunbook_argv(text: str) -> list[str] | None:
    text = text.strip().rstrip("&").strip()
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    if words and words[0] in ("vpnrunbook", ".venv/bin/vpnrunbook"):
        return words[1:]
    return None


def _make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w.-]*):", (REPO / "Makefile").read_text(), re.M))


@pytest.mark.parametrize("block", PARSE_ONLY, ids=lambda b: b.id)
def test_parse_only_commands_are_accepted_by_their_parser(block, capsys):
    from vpnrunbook.cli import build_parser

    parser = build_parser()
    for command in block.commands():
        argv = _vpnrunbook_argv(command.text)
        if argv is not None:
            try:
                args = parser.parse_args(argv)
            except SystemExit as exc:
                raise AssertionError(f"{block.id}: `{command.text}` is refused by `vpnrunbook` "
                                     f"({capsys.readouterr().err.strip()})") from exc
            assert getattr(args, "handler", None), f"{block.id}: `{command.text}` names no command"
            if argv and argv[0] == "lab":  # options after `--` go to jupyter lab: never lab's own
                assert not {"--port", "--ip"} & {a.split("=")[0] for a in args.jupyter_args}, command.text
        elif command.text.startswith("make "):
            targets = shlex.split(command.text)[1:]
            assert set(targets) <= _make_targets(), f"{block.id}: `{command.text}`: no such Makefile target"


# ---- run ------------------------------------------------------------------------------------------------
def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VPNRUNBOOK_", "AZURE_", "PYTEST_")) and k not in ("VIRTUAL_ENV",)}
    env.update(HOME=str(home), PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}")
    return env


def _project_copy(target: Path, source: Path | None = None) -> Path:
    """A checkout as a newcomer has it: notebooks/ and parameters/ (a copy), the venv (a link)."""
    if source is not None:
        shutil.copytree(source, target, symlinks=True)
        return target
    target.mkdir()
    for name in ("notebooks", "parameters"):
        shutil.copytree(REPO / name, target / name)
    (target / ".venv").symlink_to(VENV_BIN.parent)
    (target / "home").mkdir()
    return target


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory) -> tuple[Path, Path]:
    """The project as `make demo` leaves it (its emulator state, evidence, key files), built once, and a copy of
    it. Each block runs in the demo's own folder, restored from the copy first: the evidence's anchors are kept
    per evidence folder path, so a copy elsewhere would not be the same checkout."""
    base = tmp_path_factory.mktemp("docs")
    project = _project_copy(base / "project")
    out = subprocess.run([str(VENV_BIN / "vpnrunbook"), "demo"], cwd=project, env=_clean_env(project / "home"),
                         capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return project, _project_copy(base / "after-demo", project)


def _line_matches(shown: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part.strip()) for part in shown.strip().split("…"))
    return re.fullmatch(pattern, actual.strip()) is not None


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_documented_commands_run_after_the_demo(block, after_demo):
    project, saved = after_demo
    shutil.rmtree(project)
    _project_copy(project, saved)  # the state `make demo` left, whatever the block before changed
    env = _clean_env(project / "home")
    for command in block.commands():
        if command.text.startswith("make "):  # `make demo` made the state this block runs in
            assert set(shlex.split(command.text)[1:]) <= _make_targets(), command.text
            continue
        if command.text.startswith("export "):
            dump = subprocess.run(["bash", "-c", f"{command.text} && env -0"], cwd=project, env=env,
                                  capture_output=True, text=True, timeout=60, check=True).stdout
            env = dict(item.split("=", 1) for item in dump.split("\0") if "=" in item)
            continue
        out = subprocess.run(["bash", "-c", command.text], cwd=project, env=env, capture_output=True, text=True,
                             timeout=RUN_TIMEOUT)
        printed = out.stdout.splitlines() + out.stderr.splitlines()
        where = f"{block.id}: `{command.text}` exited {out.returncode}"
        assert out.returncode in command.expected_codes(), f"{where}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        for shown in command.output:
            if shown.strip() in ("", "…"):
                continue
            assert any(_line_matches(shown, actual) for actual in printed), (
                f"{where}; the documented line\n  {shown}\nwas not printed; it printed:\n" + "\n".join(printed))
