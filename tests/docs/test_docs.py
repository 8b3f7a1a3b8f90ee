"""The documentation is a test: every ```bash / ```sh / ```console and ```python block of README.md and
docs/*.md runs here, as a user would run it, and must end with the exit status the page declares.

Why a small collector rather than mktestdocs or pytest-markdown-docs: both run Python blocks (mktestdocs
also bash) and pass when nothing raises; neither checks an expected non-zero exit status, nor runs the
blocks of a page in order in one shared working directory (a later block reads a file an earlier one
wrote), nor skips one block with a stated reason.

How a block runs:
- each page gets its own temporary working directory, shared by its blocks, which run in page order (a block
  selected alone first runs the page's earlier blocks); it holds links to the checkout's `benchmarks/`,
  `docs/`, `recipes/` and `calibration/` (read them, do not write there), two photos, `cat.jpg` and
  `photo.jpg`, and a folder of images, `photos/` (the shipped calibration photos);
- a shell block runs with `bash -e -o pipefail` (the first failing command ends it), with this environment's
  `edgecnn` first on PATH; a console block runs its `$ `-prompted lines; a Python block runs as a script;
- a comment on the line before the fence declares what is expected, e.g. `<!-- doctest: exit=3 -->` (the
  exit status, default 0), `<!-- doctest: skip=needs TensorRT and an NVIDIA GPU -->` (never run; say why),
  `<!-- doctest: needs=openvino -->` (skipped, with that reason, where the module is not installed),
  `<!-- doctest: timeout=120 -->` (seconds, default 90), `<!-- doctest: slow -->` (a block that trains or
  searches for tens of seconds: it runs with the slow tests, `-m slow`; later blocks must not need its files),
  `<!-- doctest: file=suite.yaml -->` (any language: not run, but written to that file for the blocks after
  it). Options combine:
  `<!-- doctest: exit=2 needs=openvino -->`.
- every fence must name its language: blocks that are not meant to run are ```text (a synopsis, a
  diagram, output), ```yaml or ```json, so a command can never hide in an unlabelled block.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"bash": "shell", "sh": "shell", "console": "console", "python": "python"}
LINKED = ("benchmarks", "docs", "recipes", "calibration")
PHOTOS = ("cat.jpg", "photo.jpg")
DEFAULT_TIMEOUT = 90
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*doctest:(.*?)-->\s*$")
_OPTION = re.compile(r"(exit|timeout|needs|file)=(\S+)|(slow)\b|skip=(.+)$")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    exit: int = 0
    timeout: int = DEFAULT_TIMEOUT
    skip: str | None = None
    needs: list[str] = field(default_factory=list)
    file: str | None = None  # not run: written to this file in the page's folder, for the blocks after it
    slow: bool = False  # runs with the slow tests (-m slow), not in the default run

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse(page: Path) -> list[Block]:
    """Every fenced block of `page` (all languages), with the options of the marker before it."""
    lines = page.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = len(m.group(1)), m.group(2), i
        i += 1
        body = []
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1
        block = Block(page, start + 1, lang, "\n".join(body) + "\n")
        marker = _MARKER.match(lines[start - 1]) if start else None
        if marker:
            _apply(block, marker.group(1).strip())
        blocks.append(block)
    return blocks


def _apply(block: Block, text: str) -> None:
    rest = text
    while rest:
        m = _OPTION.match(rest)
        if not m:
            raise ValueError(f"{block.id}: cannot read the doctest marker {text!r} (at {rest!r})")
        key, value = m.group(1), m.group(2)
        if m.group(4) is not None:
            block.skip = m.group(4).strip()
        elif m.group(3):
            block.slow = True
        elif key == "exit":
            block.exit = int(value)
        elif key == "timeout":
            block.timeout = int(value)
        elif key == "file":
            block.file = value
        else:
            block.needs.append(value)
        rest = rest[m.end() :].strip()


ALL = [b for page in PAGES for b in parse(page)]
RUNNABLE = [b for b in ALL if b.lang in RUN or b.file]


def test_every_fence_names_its_language():
    bare = [b.id for b in ALL if not b.lang]
    assert not bare, f"fences without a language (```bash/```python run; ```text does not): {bare}"


def test_markers_are_read():
    """A marker with a typo must fail, not be silently ignored."""
    block = Block(ROOT / "README.md", 1, "bash", "true\n")
    _apply(block, "exit=3 timeout=5 needs=openvino slow")
    assert (block.exit, block.timeout, block.needs, block.slow) == (3, 5, ["openvino"], True)
    with pytest.raises(ValueError):
        _apply(block, "exits=3")


class _Page:
    """A page's working directory and how many of its blocks have run there."""

    def __init__(self, path: Path):
        self.path, self.done = path, 0
        for name in LINKED:
            (path / name).symlink_to(ROOT / name)
        photos = sorted((ROOT / "edgecnn" / "data" / "calibration").glob("*.jpg"))
        for name, photo in zip(PHOTOS, photos):
            shutil.copyfile(photo, path / name)
        (path / "photos").mkdir()
        for photo in photos:
            shutil.copyfile(photo, path / "photos" / photo.name)


@pytest.fixture(scope="session")
def pages(tmp_path_factory):
    made: dict[Path, _Page] = {}

    def get(page: Path) -> _Page:
        if page not in made:
            made[page] = _Page(tmp_path_factory.mktemp(page.stem))
        return made[page]

    return get


def _skip_reason(block: Block) -> str | None:
    if block.skip:
        return block.skip
    import importlib.util

    missing = [m for m in block.needs if importlib.util.find_spec(m) is None]
    return f"needs {', '.join(missing)}, not installed here" if missing else None


def _run(block: Block, cwd: Path) -> subprocess.CompletedProcess:
    if block.file:
        (cwd / block.file).parent.mkdir(parents=True, exist_ok=True)
        (cwd / block.file).write_text(block.code)
        return subprocess.CompletedProcess([], 0, "", "")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("COLUMNS", "120")
    if block.lang == "python":
        script = cwd / f"_block_{block.line}.py"
        script.write_text(block.code)
        cmd = [sys.executable, script.name]
    else:
        code = block.code
        if block.lang == "console":
            code = "\n".join(line[2:] for line in code.splitlines() if line.startswith("$ ")) + "\n"
        cmd = ["bash", "-e", "-o", "pipefail", "-c", code]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=block.timeout)


@pytest.mark.parametrize(
    "block", [pytest.param(b, id=b.id, marks=[pytest.mark.slow] if b.slow else []) for b in RUNNABLE]
)
def test_block(block: Block, pages):
    reason = _skip_reason(block)
    if reason:
        pytest.skip(reason)
    page = pages(block.page)
    siblings = [b for b in RUNNABLE if b.page == block.page]
    for earlier in siblings[page.done : siblings.index(block)]:  # a block selected alone needs its page so far
        if not _skip_reason(earlier) and (block.slow or not earlier.slow):  # no block may need a slow one
            _run(earlier, page.path)
    page.done = siblings.index(block) + 1
    done = _run(block, page.path)
    assert done.returncode == block.exit, (
        f"{block.id} exited {done.returncode}, the page says {block.exit}\n"
        f"--- block ---\n{block.code}--- output (tail) ---\n{(done.stdout + done.stderr)[-3000:]}"
    )


def describe() -> str:
    """`python tests/docs/test_docs.py`: the blocks found, one line each (language, expected exit, skip)."""
    return "\n".join(
        f"{b.id:32} {b.lang or '(none)':8} exit={b.exit} {('skip: ' + b.skip) if b.skip else ''}"
        f"{' needs=' + ','.join(b.needs) if b.needs else ''}{' slow' if b.slow else ''}"
        for b in ALL
    )


if __name__ == "__main__":
    print(describe())
    print(f"runnable: {len(RUNNABLE)} of {len(ALL)} blocks")
