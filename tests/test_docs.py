"""The documentation is tested like code.

- Every ```python block of README.md and docs/*.md runs, in order, one namespace
  per file, in a temporary working directory. A block fenced ```python no-run is
  shown but not run (for torchrun, GPU or external-file snippets).
- Every ``tsdiff ...`` command in a shell block parses with the real argument parser.
- Every relative link (and its #anchor) points to an existing file (and heading).
- docs/api.md is what ``python docs/gen_api.py`` writes from the current docstrings.
- The figures of docs/how_it_works.md are committed, and the scores quoted there
  are those of docs/figures/figures.json.

The examples use tiny training budgets (seconds). They run with one torch
thread: on a shared machine that is several times faster than torch's default.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
import re
import shlex
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC_FILES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

RUN, NO_RUN = "python", "python no-run"
SHELL_LANGS = {"bash", "sh", "shell", "console", "zsh"}

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")


@dataclass
class Block:
    path: Path
    line: int      # 1-based line number of the block's first code line in the file
    info: str      # the info string after the opening fence, e.g. "python" or "python no-run"
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    """Fenced code blocks of a Markdown file (indented fences, e.g. inside list items, included)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m.group("indent")), m.group("fence"), m.group("info")
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body, j = [], i + 1
        while j < len(lines) and not closing.match(lines[j]):
            line = lines[j]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            j += 1
        blocks.append(Block(path, i + 2, info, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _runnable(path: Path) -> list[Block]:
    return [b for b in code_blocks(path) if b.info == RUN]


RUNNABLE_FILES = [p for p in DOC_FILES if _runnable(p)]


def _load_script(name: str) -> ModuleType:
    """Import docs/<name>.py as a module (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- examples
@pytest.fixture
def example_env(tmp_path, monkeypatch):
    """A temporary cwd, one torch thread, and logging/matplotlib state restored afterwards."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    loggers = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers))
               for name in ("", "tsdiff")}
    try:
        yield tmp_path
    finally:
        torch.set_num_threads(threads)
        for name, (level, handlers) in loggers.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            for h in list(logger.handlers):
                if h not in handlers:
                    logger.removeHandler(h)
        plt.close("all")


@pytest.mark.parametrize("path", RUNNABLE_FILES, ids=_rel)
def test_examples_run(path: Path, example_env) -> None:
    """The ```python blocks of one file run in order in one namespace."""
    namespace: dict = {"__name__": "__doc_example__"}
    for block in _runnable(path):
        # Pad with blank lines so that tracebacks point at the line in the Markdown file.
        code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
        error = None
        try:
            exec(code, namespace)
        except Exception:
            error = traceback.format_exc()
        if error is not None:
            pytest.fail(f"the example at {block.where} failed (fence it ```{NO_RUN} if it cannot run in a "
                        f"test: torchrun, GPU, external files):\n{error}", pytrace=False)


def test_python_fences_are_run_or_no_run() -> None:
    """A typo in an info string (```python norun, ```Python) would silently skip or run an example."""
    bad = [f"{b.where}: ```{b.info}" for p in DOC_FILES for b in code_blocks(p)
           if b.info.lower().startswith(("python", "py ")) and b.info not in (RUN, NO_RUN)]
    assert not bad, f"use ```{RUN} or ```{NO_RUN}: {bad}"


def test_doc_files_have_examples() -> None:
    names = {_rel(p) for p in RUNNABLE_FILES}
    for name in ("README.md", "docs/quickstart.md", "docs/user_guide.md", "docs/how_it_works.md"):
        assert name in names, f"{name} has no ```python example"


# --------------------------------------------------------------------------- shell commands
def _shell_commands(path: Path) -> list[tuple[str, list[str]]]:
    out = []
    for block in code_blocks(path):
        if block.info.split(" ")[0] not in SHELL_LANGS:
            continue
        joined = block.code.replace("\\\n", " ")
        for k, line in enumerate(joined.splitlines()):
            line = line.strip()
            if line.startswith("$ "):
                line = line[2:]
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            if words:
                out.append((f"{block.where} (+{k})", words))
    return out


def test_shell_examples_parse() -> None:
    """Every `tsdiff ...` and `python docs/make_figures.py ...` line of the docs parses."""
    from tsdiff.cli import build_parser

    make_figures = _load_script("make_figures")
    checked = 0
    for path in DOC_FILES:
        for where, words in _shell_commands(path):
            if words[0] == "tsdiff" and "--help" not in words and "-h" not in words:
                try:
                    build_parser().parse_args(words[1:])
                except Exception as exc:  # CLIError from the parser
                    pytest.fail(f"{where}: {' '.join(words)!r} does not parse: {exc}")
                checked += 1
            elif words[:2] == ["python", "docs/make_figures.py"]:
                make_figures.parse_args(words[2:])
                checked += 1
    assert checked >= 5, "the docs should show the command line"


# --------------------------------------------------------------------------- links
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _without_fences(text: str) -> str:
    """The text without its fenced code blocks."""
    lines, fence = [], None
    for line in text.splitlines():
        if fence is None:
            m = _FENCE_OPEN.match(line)
            if m:
                fence = re.compile(rf"^[ \t]*{re.escape(m.group('fence')[0])}{{{len(m.group('fence'))},}}[ \t]*$")
            else:
                lines.append(line)
        elif fence.match(line):
            fence = None
    return "\n".join(lines)


def _prose(path: Path) -> str:
    """The file without its fenced code blocks and inline code spans (where links are not links)."""
    return re.sub(r"`[^`\n]*`", "``", _without_fences(path.read_text(encoding="utf-8")))


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"<[^>]+>", "", heading).replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Anchors of the headings of a Markdown file (duplicates get -1, -2 ... as on GitHub)."""
    counts: dict[str, int] = {}
    out = set()
    for line in _without_fences(path.read_text(encoding="utf-8")).splitlines():
        m = _HEADING.match(line)
        if m:
            slug = _slug(m.group(2))
            n = counts.get(slug, 0)
            out.add(slug if n == 0 else f"{slug}-{n}")
            counts[slug] = n + 1
    return out


def test_relative_links_resolve() -> None:
    broken = []
    for path in DOC_FILES:
        prose = _prose(path)
        for target in _LINK.findall(prose) + _REF_LINK.findall(prose):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, https:, mailto: ...
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                broken.append(f"{_rel(path)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{_rel(path)}: {target} (no heading with anchor #{anchor} in {dest.name})")
    assert not broken, "broken links:\n" + "\n".join(broken)


# --------------------------------------------------------------------------- generated files
def test_api_reference_is_current() -> None:
    gen = _load_script("gen_api")
    expected = gen.generate()
    assert expected == gen.generate(), "docs/gen_api.py is not deterministic"
    current = (DOCS / "api.md").read_text(encoding="utf-8") if (DOCS / "api.md").exists() else ""
    if current != expected:
        diff = "".join(list(difflib.unified_diff(current.splitlines(True), expected.splitlines(True),
                                                 "docs/api.md (committed)", "docs/api.md (generated)"))[:80])
        pytest.fail(f"docs/api.md is out of date: run `python docs/gen_api.py`\n{diff}", pytrace=False)


def test_api_reference_covers_public_names() -> None:
    import tsdiff

    text = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in ("TSDiff.fit", "TSDiff.predict", "TSDiff.save", "TSDiff.load", "TSDiff.reverse_trajectory",
                 "Forecast.to_dataframe", "tsdiff.config.TSDiffConfig", "tsdiff.metrics.normalized_crps",
                 "tsdiff.plotting.plot_forecast", "tsdiff.datasets.dataset_to_frame",
                 "tsdiff.diffusion.DDIMSampler", "tsdiff.nn.ContextEncoder",
                 "tsdiff.integrations.gluonts.TSDiffEstimator", "### `tsdiff predict`"):
        assert name in text, f"docs/api.md does not document {name}"
    for name in tsdiff.__all__:
        if not name.startswith("__"):
            assert f"`tsdiff.{name}`" in text, f"docs/api.md does not list tsdiff.{name}"


def test_figures_are_committed_and_quoted() -> None:
    figures = DOCS / "figures"
    result = json.loads((figures / "figures.json").read_text())
    for key in ("command", "seed", "git_sha", "hardware", "wall_seconds", "train_steps", "metrics"):
        assert key in result, f"figures.json lacks {key!r}"
    for name in result["figures"].values():
        assert (figures / name).is_file() and (figures / name).stat().st_size > 10_000, name
    table = _load_script("make_figures").metrics_table(result)
    assert table in (DOCS / "how_it_works.md").read_text(encoding="utf-8"), (
        "docs/how_it_works.md does not quote the scores of docs/figures/figures.json; paste this table:\n" + table)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
