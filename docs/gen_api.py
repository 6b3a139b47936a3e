"""Write ``docs/api.md``, the API reference, from the docstrings of tsdiff's public names.

    python docs/gen_api.py            # rewrite docs/api.md
    python docs/gen_api.py --check    # exit 1 when docs/api.md is out of date

The public names of a module are its ``__all__`` when it has one, else the
functions and classes it defines whose names do not start with ``_``. A class
is listed with the public methods and properties it defines itself (inherited
ones, e.g. scikit-learn's ``get_params`` or ``nn.Module.to``, are not
repeated). Docstrings are copied as written (numpydoc), with Sphinx roles
such as ``:class:`~tsdiff.Forecast``` shortened to the name. The output is
deterministic: it depends on the source only, not on the machine, the date or
the order of imports. ``tests/test_docs.py`` checks that the committed file is
current.
"""

from __future__ import annotations

import argparse
import ast
import enum
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "api.md"

#: (module, title, names or None for the module's public names, what the section is about)
SECTIONS: list[tuple[str, str, Optional[list[str]], str]] = [
    ("tsdiff", "Top level", None,
     "`import tsdiff` is cheap: `TSDiff` and `Forecast` are imported on first use. The names below are "
     "documented in the modules that define them."),
    ("tsdiff.estimator", "The estimator", ["TSDiff", "resolve_device"],
     "The pandas-facing model: `fit`, `predict`, `predict_iter`, `reverse_trajectory`, `save`, `load`."),
    ("tsdiff.backtest", "Backtests", ["history_before_windows", "CV_QUANTILES"],
     "Rolling-origin backtests behind `TSDiff.cross_validation`."),
    ("tsdiff.forecast", "Forecasts", ["Forecast", "DEFAULT_QUANTILES"],
     "What `TSDiff.predict` returns."),
    ("tsdiff.config", "Configuration", None,
     "The frozen configuration a fitted model carries as `model.config_` (and saves in `config.json`)."),
    ("tsdiff.errors", "Errors", None,
     "Every exception tsdiff raises on purpose; see also [Errors and bad inputs](errors.md)."),
    ("tsdiff.metrics", "Metrics", None, "Numpy forecast metrics."),
    ("tsdiff.plotting", "Plotting", None, "Fan charts, calibration diagnostics and the reverse-diffusion figure."),
    ("tsdiff.datasets", "Datasets", None, "Shipped and GluonTS datasets, and pandas <-> GluonTS conversion."),
    ("tsdiff.diffusion", "Diffusion: schedule and samplers", None,
     "Model-free DDPM maths; see [How it works](how_it_works.md)."),
    ("tsdiff.nn", "Neural networks", None, "The context encoder, the conditional denoiser and the 1D U-Net."),
    ("tsdiff.model", "The torch model", ["TSDiffModel", "batch_to_tensors"],
     "Scaling, lag channels, encoder, denoiser and schedule as one `nn.Module` (tensors only, no pandas)."),
    ("tsdiff.training", "Training loop", None, "The model-agnostic training loop `TSDiff.fit` uses."),
    ("tsdiff.memory", "Memory checks", None,
     "The up-front memory estimate and limit of `TSDiff.predict` / `predict_iter`."),
    ("tsdiff.distributed", "Distributed training", None,
     "`torch.distributed` helpers; see [Distributed training](distributed.md)."),
    ("tsdiff.integrations.gluonts", "GluonTS adapter", None,
     "The only module that imports GluonTS: time features, datasets, a GluonTS `Estimator`/`Predictor` "
     "pair wrapping `TSDiff`, and GluonTS's evaluation helpers."),
    ("tsdiff.cli", "Command line (Python side)", None,
     "The functions behind the `tsdiff` command; its options are listed in [the next section](#command-line-options)."),
]

_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc|obj|py:\w+):`(~?)([^`]+)`")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_WIDTH = 96


def _short_roles(text: str) -> str:
    """``:class:`~a.b.C``` -> ```C```; ``:func:`a.b```-> ```a.b```."""
    def repl(m: re.Match) -> str:
        name = m.group(2)
        return f"``{name.rsplit('.', 1)[-1] if m.group(1) else name}``"

    return _ROLE.sub(repl, text)


def _doc(obj: Any) -> str:
    """The object's own docstring (never an inherited one), cleaned."""
    raw = obj.__doc__ if isinstance(obj.__doc__, str) else None
    if isinstance(obj, property):
        raw = obj.fget.__doc__ if obj.fget is not None else None
    return inspect.cleandoc(raw) if raw else ""


def _annotation(a: Any) -> str:
    if a is inspect.Parameter.empty:
        return ""
    return a if isinstance(a, str) else inspect.formatannotation(a)


def _default(v: Any) -> str:
    if isinstance(v, enum.Enum):
        return f"{type(v).__name__}.{v.name}"
    return _ADDRESS.sub("", repr(v))


def _signature(name: str, fn: Callable, drop_first: bool = False) -> str:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return f"{name}(...)"
    parts: list[str] = []
    params = list(sig.parameters.values())[1 if drop_first else 0:]
    saw_kw_marker = False
    for i, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and not saw_kw_marker:
            parts.append("*")
            saw_kw_marker = True
        if p.kind is p.VAR_POSITIONAL:
            saw_kw_marker = True
        text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        ann = _annotation(p.annotation)
        if ann:
            text += f": {ann}"
        if p.default is not p.empty:
            text += f" = {_default(p.default)}" if ann else f"={_default(p.default)}"
        parts.append(text)
        if p.kind is p.POSITIONAL_ONLY and (i + 1 == len(params) or params[i + 1].kind is not p.POSITIONAL_ONLY):
            parts.append("/")
    ret = _annotation(sig.return_annotation)
    tail = f" -> {ret}" if ret else ""
    one_line = f"{name}({', '.join(parts)}){tail}"
    if len(one_line) <= _WIDTH:
        return one_line
    body = "".join(f"    {part},\n" for part in parts)
    return f"{name}(\n{body}){tail}"


def _constant_source(module: Any, name: str) -> tuple[str, str]:
    """The module-level statement assigning ``name`` and its ``#:`` comment, if any."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return "", ""
    for node in ast.parse(source).body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            lines = source.splitlines()
            comment = []
            j = node.lineno - 2
            while j >= 0 and lines[j].startswith("#:"):
                comment.insert(0, lines[j][2:].strip())
                j -= 1
            return ast.get_source_segment(source, node) or "", " ".join(comment)
    return "", ""


def _public_names(module: Any) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return [n for n in names if not n.startswith("__")]
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", None) == module.__name__:
            out.append(name)
        elif not callable(obj) and not inspect.ismodule(obj) and _constant_source(module, name)[1]:
            out.append(name)  # a module constant documented with a "#:" comment
    return out


def _defined_in(module_name: str, obj: Any) -> str:
    mod = getattr(obj, "__module__", None)
    return mod if isinstance(mod, str) else module_name


def _render_doc(doc: str, lines: list[str]) -> None:
    """Summary paragraph as text, the rest (numpydoc sections) in a text block."""
    if not doc:
        return
    doc = _short_roles(doc)
    assert "```" not in doc, "a docstring holds a code fence"
    paragraphs = doc.split("\n\n", 1)
    lines += [" ".join(s.strip() for s in paragraphs[0].splitlines()), ""]
    if len(paragraphs) > 1 and paragraphs[1].strip():
        lines += ["```text", paragraphs[1].rstrip(), "```", ""]


def _members(cls: type) -> list[tuple[str, Any]]:
    out = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            out.append((name, member.__func__))
        elif inspect.isfunction(member) or isinstance(member, property):
            out.append((name, member))
    return out


def _render_class(qual: str, cls: type, lines: list[str]) -> None:
    kind = "exception" if issubclass(cls, BaseException) else "class"
    bases = [b for b in cls.__bases__ if b is not object]
    lines += [f"### `{qual}`", ""]
    base_text = f" (bases: {', '.join('`' + b.__name__ + '`' for b in bases)})" if bases else ""
    lines += [f"*{kind}*{base_text}", ""]
    if not issubclass(cls, BaseException):
        lines += ["```text", _signature(cls.__name__, cls), "```", ""]
    _render_doc(_doc(cls), lines)
    for name, member in _members(cls):
        if isinstance(member, property):
            lines += [f"#### `{cls.__name__}.{name}`", "", "*property*", ""]
        else:
            tag = ""
            raw = vars(cls)[name]
            if isinstance(raw, classmethod):
                tag = "*classmethod*"
            elif isinstance(raw, staticmethod):
                tag = "*staticmethod*"
            lines += [f"#### `{cls.__name__}.{name}`", ""]
            if tag:
                lines += [tag, ""]
            sig = _signature(name, member, drop_first=not isinstance(raw, staticmethod))  # no self / cls
            lines += ["```text", sig, "```", ""]
        _render_doc(_doc(member), lines)


def _render_section(module_name: str, title: str, names: Optional[list[str]], intro: str,
                    lines: list[str]) -> None:
    module = importlib.import_module(module_name)
    lines += [f"## `{module_name}`: {title}", "", intro, ""]
    if names is None:
        names = _public_names(module)
    if module_name == "tsdiff":
        rows = []
        for name in names:
            obj = getattr(module, name)
            where = _defined_in(module_name, obj) if (inspect.isclass(obj) or inspect.isfunction(obj)) else ""
            if not where:
                where = {"FORMAT_VERSION": "tsdiff.config", "__version__": "tsdiff"}.get(name, module_name)
            rows.append(f"| `tsdiff.{name}` | `{where}` |")
        lines += ["| name | defined in |", "|---|---|", *rows, ""]
        return
    for name in names:
        obj = getattr(module, name)
        qual = f"{module_name}.{name}"
        if inspect.isclass(obj):
            _render_class(qual, obj, lines)
        elif callable(obj) and (inspect.isfunction(obj) or inspect.isroutine(obj) or hasattr(obj, "__wrapped__")):
            lines += [f"### `{qual}`", "", "```text", _signature(name, obj), "```", ""]
            _render_doc(_doc(obj), lines)
        else:
            home = importlib.import_module(_home_module(module, name))
            src, comment = _constant_source(home, name)
            lines += [f"### `{qual}`", "", "```text", src or f"{name} = {_default(obj)}", "```", ""]
            if comment:
                lines += [_short_roles(comment), ""]


def _home_module(module: Any, name: str) -> str:
    """The submodule whose source assigns ``name`` (packages re-export from submodules)."""
    if _constant_source(module, name)[0]:
        return module.__name__
    if hasattr(module, "__path__"):
        for sub in sorted(p.stem for p in Path(module.__path__[0]).glob("*.py")):
            full = f"{module.__name__}.{sub}"
            if sub != "__init__" and _constant_source(importlib.import_module(full), name)[0]:
                return full
    return module.__name__


def _render_cli(lines: list[str]) -> None:
    from tsdiff.cli import build_parser

    parser = build_parser()
    lines += ["## Command line options", "",
              "Generated from `tsdiff.cli.build_parser()`; `tsdiff COMMAND --help` prints the same with examples.", ""]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    root_opts = [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    lines += ["Global options (before or after the command):", ""]
    _options_table(root_opts, "tsdiff", lines)
    helps = {ca.dest: ca.help for ca in sub._choices_actions}
    for name, p in sub.choices.items():
        lines += [f"### `tsdiff {name}`", "", (helps.get(name) or "").rstrip(".") + ".", ""]
        acts = [a for a in p._actions if not isinstance(a, argparse._HelpAction) and a.default is not argparse.SUPPRESS]
        _options_table(acts, f"tsdiff {name}", lines)


def _options_table(actions: list[argparse.Action], prog: str, lines: list[str]) -> None:
    rows = []
    for a in actions:
        flags = ", ".join(f"`{s}`" for s in a.option_strings) if a.option_strings else f"`{a.metavar or a.dest}`"
        if a.option_strings and a.nargs != 0:
            value = a.metavar or ("{" + ",".join(a.choices) + "}" if a.choices else a.dest.upper())
            flags += f" `{value}`"
        help_text = a.help or ""
        if "%(" in help_text:
            try:
                help_text = help_text % dict(vars(a), prog=prog)
            except (KeyError, TypeError, ValueError):
                pass
        required = "required" if (a.required or not a.option_strings) else ""
        help_text = help_text.replace("|", "\\|")
        rows.append(f"| {flags} | {required} | {help_text} |")
    if rows:
        lines += ["| option | | description |", "|---|---|---|", *rows, ""]


def generate() -> str:
    """The full text of ``docs/api.md``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    lines = [
        "# API reference",
        "",
        "<!-- Generated by `python docs/gen_api.py` from the docstrings; do not edit by hand. "
        "tests/test_docs.py checks that it is current. -->",
        "",
        "Start with the [Quickstart](quickstart.md) and the [User guide](user_guide.md); this page lists every "
        "public name with its signature and docstring.",
        "",
    ]
    lines += [f"- [`{m}`: {t}](#{_anchor(f'{m}: {t}')})" for m, t, _, _ in SECTIONS]
    lines += ["- [Command line options](#command-line-options)", ""]
    for module_name, title, names, intro in SECTIONS:
        _render_section(module_name, title, names, intro, lines)
    _render_cli(lines)
    text = "\n".join(lines).rstrip() + "\n"
    text = re.sub(r"\n{3,}", "\n\n", text)
    if _ADDRESS.search(text):
        raise RuntimeError("the reference holds a memory address: it would not be deterministic")
    return text


def _anchor(title: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    slug = re.sub(r"[^\w\- ]", "", title.lower())
    return slug.replace(" ", "-")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is out of date, write nothing")
    ap.add_argument("--out", default=str(OUT), help="output file (default: %(default)s)")
    args = ap.parse_args(argv)
    text = generate()
    out = Path(args.out)
    if args.check:
        current = out.read_text() if out.exists() else ""
        if current != text:
            print(f"{out} is out of date: run python docs/gen_api.py", file=sys.stderr)
            return 1
        print(f"{out} is current")
        return 0
    out.write_text(text)
    print(f"wrote {out} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
