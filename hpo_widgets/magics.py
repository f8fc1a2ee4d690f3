"""``%load_ext hpo_widgets``: the ``%%hpo`` cell magic and the ``%hpo`` line magic.

A ``%%hpo`` cell is the user's ordinary Python with ``# hpo:`` annotations on the
assignments to tune; each trial runs the cell with the annotated names set to that
trial's values and reads the metric variable afterwards::

    %%hpo --metric val_acc --mode max --trials 50
    lr = 1e-3          # hpo: log(1e-4, 1e-1)
    units = 64         # hpo: [32, 64, 128]
    dropout = 0.2      # hpo: (0.0, 0.5)
    layers = 2         # hpo: int(1, 4)
    ...                # ordinary training code
    val_acc = ...      # the metric variable, read after each trial

Annotations (what follows ``# hpo:``; parsed with :mod:`ast`, never executed):

==========================  ===========================================================
``log(low, high)``          a log range (``Int`` when both ends are integers, else
                            ``Float``); ``log(low, high, n)``: n log-spaced values
``(low, high)``             a range (``Int`` when both ends are integers, else ``Float``)
``(low, high, n)``          n evenly spaced values, both ends included
``(low, high, "log")``      same as ``log(low, high)``
``[a, b, c]``               a choice (``Bool`` when all are True/False)
``choice(a, b, c)``         a choice
``int(low, high)``          an integer range; keywords ``log=``, ``step=``, ``num=``
``float(low, high)``        a real range; keywords ``log=``, ``step=``, ``num=``
``bool``                    ``False`` or ``True``
==========================  ===========================================================

Values are literals: numbers (``1e-4``, ``-3``), strings, ``True``/``False``/``None``.
Line numbers in messages count the ``%%hpo`` line as line 1, as Jupyter shows them.

Options (``%hpo help`` lists them): ``--metric NAME`` (default ``val_loss``; the cell
must assign it), ``--mode min|max`` (inferred for loss- and score-like names),
``--trials N`` (default 100), ``--strategy``, ``--jobs N``, ``--name NAME``, ``--time
SECONDS``, ``--seed N``, ``--pruner``, ``--store PATH``, ``--trial-timeout SECONDS``,
``--no-start``. Without ``--name`` the scan is named ``hpo_<hash of the cell>``, so
re-running the same cell (after a kernel crash, say) continues its scan and an edited
cell starts a new one. The scan is bound to ``_hpo``, and to ``--name`` when given.

Each trial runs in its own namespace: a shallow copy of the user's globals taken when
the cell runs (so trials never overwrite the user's variables, and what a trial
assigns stays in the trial). ``print`` in the cell (and in functions the cell
defines) writes to a per-trial buffer: its last :data:`STDOUT_LIMIT` characters are
stored in the trial's metrics as ``"stdout"`` (a ``stdout`` column of
``scan.results``; ``%hpo output NAME TRIAL`` prints it), and a failed trial's output
is appended to its stored traceback. Output that bypasses ``print`` (``sys.stdout``
writes, libraries' own progress bars) is not captured.

A cell may report a learning curve with ``from hpo_widgets.magics import trial`` then
``trial.report(epoch, loss)`` / ``if trial.should_prune(): break``; outside a scan
those calls do nothing, so the cell still runs plain.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import difflib
import hashlib
import io
import keyword
import linecache
import re
import shlex
import sys
import threading
import tokenize
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from . import scan as _scan_mod
from .options import check_option, metric_direction
from .scan import Scan, load, scans
from .space import Bool, Choice, Fixed, Float, Int, Param, Space
from .store import ScanLocked, scan_dir

__all__ = ["STDOUT_LIMIT", "AnnotationError", "CellObjective", "HpoMagics",
           "MetricNotSetError", "ParsedCell", "load_ipython_extension", "parse_annotation",
           "parse_cell", "parse_options", "trial"]

#: How many characters of a trial's printed output are kept (the last ones).
STDOUT_LIMIT = 4000
#: The name the rewritten cell reads a trial's values from.
PARAMS_NAME = "__hpo_params__"
#: Default of ``--metric``.
DEFAULT_METRIC = "val_loss"

FORMS = ("log(low, high)", "(low, high)", "(low, high, n)", "[a, b, ...]",
         "int(low, high)", "float(low, high)", "choice(a, b, ...)", "bool")
_EXPECTED = "expected one of " + ", ".join(FORMS)
_HPO_COMMENT = re.compile(r"#\s*hpo\s*:(.*)\Z", re.S)


class AnnotationError(ValueError):
    """A ``# hpo:`` annotation, or the assignment it sits on, that cannot be read.

    ``line`` is the cell line, counting the ``%%hpo`` line as 1; ``text`` that line's
    source when known. IPython shows it like a syntax error: the line and the message,
    no traceback into this module.
    """

    def __init__(self, line: int, message: str, text: str | None = None) -> None:
        self.line = line
        self.text = text
        super().__init__(f"line {line}: {message}")

    def _render_traceback_(self) -> list[str]:
        out = []
        if self.text:
            out.append(f"  Cell line {self.line}:  {self.text.strip()}")
        out.append(f"{type(self).__name__}: {self}")
        return out


class MetricNotSetError(NameError):
    """The cell ran but did not set the metric variable."""


# -- annotations -------------------------------------------------------------------------
def _literal(node: ast.AST, fail: Callable[[str], Any]) -> Any:
    if isinstance(node, ast.Constant):
        v = node.value
        if v is None or isinstance(v, bool | int | float | str):
            return v
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int | float)
            and not isinstance(node.operand.value, bool)):
        v = node.operand.value
        return -v if isinstance(node.op, ast.USub) else v
    fail(f"{ast.unparse(node)} is not a literal value (use numbers, strings, True, False "
         "or None)")
    raise AssertionError  # pragma: no cover - fail() raises


def _number(v: Any, what: str, fail: Callable[[str], Any]) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | float):
        fail(f"{what} must be a number, got {v!r}")
    return v


def _range(low: Any, high: Any, fail: Callable[[str], Any], **kw: Any) -> Param:
    low, high = _number(low, "low", fail), _number(high, "high", fail)
    cls = Int if isinstance(low, int) and isinstance(high, int) else Float
    return cls(low, high, **kw)


def parse_annotation(text: str, line: int = 1) -> Param:
    """The parameter that an annotation (the text after ``# hpo:``) describes.

    >>> parse_annotation("log(1e-4, 1e-1)")
    Float(low=0.0001, high=0.1, log=True)
    >>> parse_annotation("[32, 64, 128]")
    Choice(values=[32, 64, 128])

    Raises :class:`AnnotationError` naming ``line`` and what is expected.
    """
    src = text.strip()
    shown = f"'hpo: {src}'"

    def fail(why: str) -> None:
        raise AnnotationError(line, f"cannot read {shown}: {why}")

    if not src:
        fail(f"nothing after 'hpo:'; {_EXPECTED}")
    try:
        node = ast.parse(src, mode="eval").body
    except SyntaxError:
        fail(f"not a valid annotation; {_EXPECTED}")
        raise AssertionError from None  # pragma: no cover
    try:
        return _annotation(node, fail)
    except (TypeError, ValueError) as e:
        if isinstance(e, AnnotationError):
            raise
        fail(str(e))
        raise AssertionError from None  # pragma: no cover


def _annotation(node: ast.AST, fail: Callable[[str], Any]) -> Param:
    if isinstance(node, ast.List):
        values = [_literal(e, fail) for e in node.elts]
        return _choice(values, "a list", fail)
    if isinstance(node, ast.Tuple):
        items = [_literal(e, fail) for e in node.elts]
        if len(items) not in (2, 3):
            fail("a tuple is (low, high) or (low, high, n); use [a, b, ...] for a choice")
        if len(items) == 2:
            return _range(items[0], items[1], fail)
        third = items[2]
        if isinstance(third, str):
            if third.lower() != "log":
                fail(f"the third item of (low, high, ...) is a count n or 'log', got {third!r}")
            return _range(items[0], items[1], fail, log=True)
        return _range(items[0], items[1], fail, num=_count(third, fail))
    if isinstance(node, ast.Name):
        if node.id == "bool":
            return Bool()
        if node.id in ("log", "int", "float", "choice"):
            fail(f"{node.id} needs arguments, e.g. {_example(node.id)}")
        fail(f"unknown name {node.id!r}; {_EXPECTED}")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _call(node.func.id, node, fail)
    fail(_EXPECTED)
    raise AssertionError  # pragma: no cover


def _example(name: str) -> str:
    return {"log": "log(1e-4, 1e-1)", "int": "int(1, 4)", "float": "float(0.0, 0.5)",
            "choice": 'choice("relu", "gelu")', "bool": "bool"}[name]


def _count(n: Any, fail: Callable[[str], Any]) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        fail(f"n, the number of values, must be a whole number >= 2, got {n!r}")
    return int(n)


def _choice(values: list[Any], what: str, fail: Callable[[str], Any]) -> Param:
    if not values:
        fail(f"{what} of choices needs at least one value")
    if len(values) == 1:
        return Fixed(values[0])
    if all(isinstance(v, bool) for v in values):
        return Bool(values)
    return Choice(values)


def _call(name: str, node: ast.Call, fail: Callable[[str], Any]) -> Param:
    if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords):
        fail("* and ** are not supported in annotations")
    if name == "choice" and len(node.args) == 1 and isinstance(node.args[0],
                                                                ast.List | ast.Tuple):
        node = ast.Call(func=node.func, args=list(node.args[0].elts), keywords=node.keywords)
    args = [_literal(a, fail) for a in node.args]
    kwargs = {k.arg: _literal(k.value, fail) for k in node.keywords}
    if name == "bool":
        if args or kwargs:
            fail("bool takes no arguments; write 'hpo: bool'")
        return Bool()
    if name == "choice":
        if kwargs:
            fail("choice() takes values only, e.g. " + _example("choice"))
        return _choice(args, "choice()", fail)
    if name == "log":
        if kwargs or len(args) not in (2, 3):
            fail("log() needs (low, high), or (low, high, n) for n log-spaced values")
        if len(args) == 3:
            return _range(args[0], args[1], fail, log=True, num=_count(args[2], fail))
        return _range(args[0], args[1], fail, log=True)
    if name in ("int", "float"):
        if len(args) != 2:
            fail(f"{name}() needs (low, high), e.g. {_example(name)}")
        bad = sorted(set(kwargs) - {"log", "step", "num"})
        if bad:
            fail(f"{name}() has no option {bad[0]!r}; its options are log=, step=, num=")
        if "log" in kwargs and not isinstance(kwargs["log"], bool):
            fail(f"log= must be True or False, got {kwargs['log']!r}")
        cls = Int if name == "int" else Float
        for what, v in zip(("low", "high"), args, strict=True):
            _number(v, what, fail)
        return cls(args[0], args[1], **kwargs)
    fail(f"unknown form {name}(); {_EXPECTED}")
    raise AssertionError  # pragma: no cover


# -- the cell ------------------------------------------------------------------------------
@dataclass
class ParsedCell:
    """A ``%%hpo`` cell read and rewritten: its space, its code and where names are set."""

    source: str
    params: dict[str, Param]
    lines: dict[str, int]                      # parameter -> the line of its annotation
    defaults: dict[str, Any]                   # parameter -> its literal default, if any
    code: CodeType
    filename: str
    assigned: dict[str, list[int]] = field(default_factory=dict)  # name -> lines binding it

    @property
    def space(self) -> Space:
        return Space(dict(self.params))


_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try,
             ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Match)


def _statements(tree: ast.AST) -> list[tuple[int, ast.stmt]]:
    """Every statement with its nesting depth."""
    out: list[tuple[int, ast.stmt]] = []

    def walk(node: ast.AST, depth: int) -> None:
        for child in ast.iter_child_nodes(node):
            d = depth
            if isinstance(child, ast.stmt):
                out.append((depth, child))
                d = depth + 1
            walk(child, d)

    walk(tree, 0)
    return out


def _bindings(tree: ast.AST, offset: int) -> dict[str, list[int]]:
    """Names the cell binds anywhere, with the (cell) lines where it does."""
    out: dict[str, list[int]] = {}

    def add(name: str, line: int) -> None:
        lines = out.setdefault(name, [])
        if line + offset not in lines:
            lines.append(line + offset)

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            add(node.id, node.lineno)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            add(node.name, node.lineno)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for a in node.names:
                if a.name != "*":
                    add(a.asname or a.name.split(".")[0], node.lineno)
    return out


def _describe(stmt: ast.stmt) -> str:
    if isinstance(stmt, _COMPOUND):
        return f"a {type(stmt).__name__.lower()} statement"
    text = ast.unparse(stmt).splitlines()[0]
    return text if len(text) <= 60 else text[:57] + "..."


def parse_cell(source: str, *, first_line: int = 1, filename: str = "<%%hpo>",
               header: str | None = None) -> ParsedCell:
    """Read the ``# hpo:`` annotations of a cell body and compile the rewritten cell.

    ``first_line`` is the number of the body's first line in messages and tracebacks
    (2 in a ``%%hpo`` cell, whose line 1 is the magic line); ``header`` is that line's
    text, shown in tracebacks. Each annotated ``name = default`` becomes
    ``name = __hpo_params__["name"]`` on the same line.
    """
    offset = first_line - 1
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as e:
        if e.lineno is not None:
            e.lineno += offset
            if getattr(e, "end_lineno", None) is not None:
                e.end_lineno += offset  # type: ignore[operator]
        raise
    comments: list[tuple[int, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                m = _HPO_COMMENT.match(tok.string)
                if m:
                    comments.append((tok.start[0], m.group(1)))
    except (tokenize.TokenError, SyntaxError) as e:  # pragma: no cover - ast.parse passed
        raise AnnotationError(first_line, f"cannot tokenize the cell: {e}") from None

    stmts = _statements(tree)
    params: dict[str, Param] = {}
    lines: dict[str, int] = {}
    defaults: dict[str, Any] = {}
    targets: dict[int, str] = {}  # id(assignment node) -> name
    src_lines = source.splitlines()
    for lineno, text in comments:
        try:
            stmt, name, param = _annotated(stmts, lineno, offset, text)
        except AnnotationError as e:
            if e.text is None and 0 < lineno <= len(src_lines):
                e.text = src_lines[lineno - 1]
            raise
        line = lineno + offset
        if id(stmt) in targets:
            raise AnnotationError(line, f"{name!r} has two '# hpo:' annotations; keep one",
                                  src_lines[lineno - 1])
        if name in params:
            raise AnnotationError(line, f"{name!r} is already tuned on line {lines[name]}; "
                                        "annotate each name once", src_lines[lineno - 1])
        params[name] = param
        lines[name] = line
        with contextlib.suppress(ValueError, TypeError, SyntaxError, MemoryError,
                                 RecursionError):
            defaults[name] = ast.literal_eval(stmt.value)  # type: ignore[attr-defined,arg-type]
        targets[id(stmt)] = name

    class _Rewrite(ast.NodeTransformer):
        def visit_Assign(self, node: ast.Assign) -> ast.AST:
            return self._swap(node)

        def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
            return self._swap(node)

        def _swap(self, node: ast.Assign | ast.AnnAssign) -> ast.AST:
            self.generic_visit(node)
            name = targets.get(id(node))
            if name is not None and node.value is not None:
                new = ast.Subscript(value=ast.Name(id=PARAMS_NAME, ctx=ast.Load()),
                                    slice=ast.Constant(value=name), ctx=ast.Load())
                node.value = ast.copy_location(new, node.value)
            return node

    tree = _Rewrite().visit(tree)
    ast.fix_missing_locations(tree)
    if offset:
        ast.increment_lineno(tree, offset)
    code = compile(tree, filename, "exec")
    # Tracebacks of failed trials show the user's lines (as for ordinary cells).
    body_lines = source.splitlines(keepends=True)
    pre = [""] * offset
    if header is not None and offset:
        pre[-1] = header.rstrip("\n") + "\n"
    all_lines = [ln if ln.endswith("\n") else ln + "\n" for ln in pre + body_lines]
    linecache.cache[filename] = (sum(map(len, all_lines)), None, all_lines, filename)
    return ParsedCell(source=source, params=params, lines=lines, defaults=defaults,
                      code=code, filename=filename, assigned=_bindings(tree, 0))


def _annotated(stmts: list[tuple[int, ast.stmt]], lineno: int, offset: int,
               text: str) -> tuple[ast.stmt, str, Param]:
    """The assignment a ``# hpo:`` comment on (body) line ``lineno`` annotates."""
    line = lineno + offset
    spanning = [(d, s) for d, s in stmts if s.lineno <= lineno <= (s.end_lineno or s.lineno)]
    if not spanning:
        raise AnnotationError(line, "'# hpo:' must end an assignment line such as "
                                    "`lr = 1e-3  # hpo: log(1e-4, 1e-1)`; this line "
                                    "assigns nothing")
    _, stmt = max(spanning, key=lambda ds: (ds[1].lineno, ds[0]))
    name = _simple_target(stmt, line)
    if name == PARAMS_NAME:
        raise AnnotationError(line, f"{PARAMS_NAME!r} is reserved")
    return stmt, name, parse_annotation(text, line)


def _simple_target(stmt: ast.stmt, line: int) -> str:
    if isinstance(stmt, ast.Assign):
        if len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            return stmt.targets[0].id
        got = " = ".join(ast.unparse(t) for t in stmt.targets)
        raise AnnotationError(line, f"'# hpo:' needs a simple assignment `name = default`, "
                                    f"got `{got} = ...`; tune one name per line")
    if isinstance(stmt, ast.AnnAssign):
        if isinstance(stmt.target, ast.Name) and stmt.value is not None:
            return stmt.target.id
        raise AnnotationError(line, "'# hpo:' needs a simple assignment `name = default`, "
                                    f"got `{_describe(stmt)}`")
    if isinstance(stmt, ast.AugAssign):
        raise AnnotationError(line, f"'# hpo:' needs a plain assignment `name = default`, "
                                    f"not an augmented one (`{_describe(stmt)}`)")
    raise AnnotationError(line, "'# hpo:' must end an assignment line such as "
                                f"`lr = 1e-3  # hpo: log(1e-4, 1e-1)`, not `{_describe(stmt)}`")


# -- running a trial -----------------------------------------------------------------------
class _Tail:
    """A text sink that keeps the last ``limit`` characters written to it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self.dropped = 0

    def write(self, s: str) -> int:
        self._parts.append(s)
        self._size += len(s)
        if self._size > 2 * self.limit:
            self._trim()
        return len(s)

    def flush(self) -> None:
        pass

    def _trim(self) -> None:
        text = "".join(self._parts)
        if len(text) > self.limit:
            self.dropped += len(text) - self.limit
            text = text[-self.limit:]
        self._parts, self._size = [text], len(text)

    def getvalue(self) -> str:
        self._trim()
        text = self._parts[0] if self._parts else ""
        if self.dropped:
            text = f"[... {self.dropped} earlier characters dropped]\n{text}"
        return text


def _make_print(sink: _Tail) -> Callable[..., None]:
    def print(*args: Any, sep: str | None = " ", end: str | None = "\n",
              file: Any = None, flush: bool = False) -> None:
        if file is None or file is sys.stdout or file is sys.stderr:
            builtins.print(*args, sep=sep, end=end, file=sink)
        else:
            builtins.print(*args, sep=sep, end=end, file=file, flush=flush)

    return print


class _CurrentTrial:
    """``from hpo_widgets.magics import trial`` inside a ``%%hpo`` cell.

    ``trial.report(step, value)`` feeds the live learning curve and the pruner;
    ``trial.should_prune()`` says whether to stop early. In a trial these reach that
    trial's handle; anywhere else (the cell run plain) they do nothing.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def handle(self) -> Any:
        return getattr(self._local, "handle", None)

    def report(self, step: float, value: float) -> None:
        h = self.handle
        if h is not None:
            h.report(step, value)

    def should_prune(self) -> bool:
        h = self.handle
        return bool(h is not None and h.should_prune())

    @property
    def params(self) -> dict[str, Any]:
        h = self.handle
        return {} if h is None else dict(h.params)

    @property
    def id(self) -> int | None:
        h = self.handle
        return None if h is None else h.id

    def __repr__(self) -> str:
        h = self.handle
        return "<no hpo trial running here>" if h is None else f"<hpo trial {h.id}>"


trial = _CurrentTrial()
_current = trial  # CellObjective.__call__'s own `trial` argument shadows the name


class CellObjective:
    """The objective of a ``%%hpo`` scan: runs the rewritten cell once per trial.

    ``base`` is the namespace each trial starts from (a shallow copy is made per
    trial); the metric variable is read from the trial's namespace after the cell ran.
    """

    def __init__(self, cell: ParsedCell, base: dict[str, Any], metric: str,
                 name: str = "hpo_cell") -> None:
        self.cell = cell
        self.metric = metric
        self._base = {k: v for k, v in base.items() if k != metric}
        self.__name__ = self.__qualname__ = name

    def __call__(self, params: dict[str, Any], trial: Any) -> dict[str, Any]:
        out = _Tail(STDOUT_LIMIT)
        ns = dict(self._base)
        ns[PARAMS_NAME] = dict(params)
        ns["print"] = _make_print(out)
        local = _current._local
        previous = getattr(local, "handle", None)
        local.handle = trial
        try:
            exec(self.cell.code, ns)  # the user's own cell, compiled once
        except BaseException as e:
            text = out.getvalue()
            if text and hasattr(e, "add_note"):
                e.add_note(f"--- printed by the trial ---\n{text.rstrip()}")
            raise
        finally:
            local.handle = previous
        if self.metric not in ns:
            raise MetricNotSetError(self.missing_message())
        result = {self.metric: ns[self.metric]}
        text = out.getvalue()
        if text:
            result["stdout"] = text
        return result

    def missing_message(self) -> str:
        where = self.cell.assigned.get(self.metric)
        if where:
            lines = ", ".join(str(n) for n in where)
            return (f"the cell did not set {self.metric!r} (the --metric variable) in this "
                    f"trial; it assigns it on line{'s' if len(where) > 1 else ''} {lines}: "
                    "make sure one of those runs")
        return (f"the cell never assigns {self.metric!r} (the --metric variable); end it "
                f"with `{self.metric} = ...` or pass --metric NAME")


# -- options -------------------------------------------------------------------------------
_OPTION_HELP = (
    ("--metric NAME", f"the variable read after each trial (default {DEFAULT_METRIC})"),
    ("--mode min|max", "minimise or maximise it (inferred for loss/acc-like names)"),
    ("--trials N", "how many trials (default 100)"),
    ("--strategy NAME", "random (default), grid, sobol, bayes or optuna"),
    ("--jobs N", "trials in parallel, in kernel threads (default 1)"),
    ("--name NAME", "the scan's name and the variable it is bound to (default: _hpo, "
                    "scan named hpo_<hash of the cell>)"),
    ("--time SECONDS", "stop starting trials after this long"),
    ("--seed N", "reproducible proposals"),
    ("--pruner NAME", "median or asha (needs trial.report in the cell)"),
    ("--store PATH", "where the scan is stored (default hpo_scans)"),
    ("--trial-timeout SECONDS", "a trial running longer is recorded as failed"),
    ("--no-start", "build and show the scan without starting it (%hpo resume starts it)"),
)
VALID_OPTIONS = (*(o.split()[0] for o, _ in _OPTION_HELP), "--help")


def _options_text() -> str:
    return "\n".join(f"  {o:<26}{h}" for o, h in _OPTION_HELP)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(f"%%hpo: {message}\nOptions:\n{_options_text()}")


def _checked(flag: str, option: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A converter for ``flag`` that checks the value as ``Scan(option=...)`` does (one
    validation, in :mod:`hpo_widgets.options`), naming the flag in its error."""
    def conv(s: str) -> Any:
        try:
            value = parse(s)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{flag} must be a {'whole number' if parse is int else 'number'}, got {s!r}") \
                from None
        try:
            return check_option(option, value)
        except (TypeError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e).replace(option, flag, 1)) from None
    return conv


def _parser() -> _Parser:
    p = _Parser(prog="%%hpo", add_help=False, allow_abbrev=False)
    p.add_argument("--metric", default=DEFAULT_METRIC)
    p.add_argument("--mode", choices=("min", "max"), default=None)
    p.add_argument("--trials", type=_checked("--trials", "max_trials", int), default=100)
    p.add_argument("--strategy", default="random")
    p.add_argument("--jobs", type=_checked("--jobs", "n_jobs", int), default=1)
    p.add_argument("--name", default=None)
    p.add_argument("--time", type=_checked("--time", "time_limit", float), default=None)
    p.add_argument("--seed", type=_checked("--seed", "seed", int), default=None)
    p.add_argument("--pruner", default=None)
    p.add_argument("--store", default="hpo_scans")
    p.add_argument("--trial-timeout", type=_checked("--trial-timeout", "trial_timeout", float),
                   default=None)
    p.add_argument("--no-start", action="store_true")
    p.add_argument("--help", "-h", action="store_true")
    return p


def parse_options(line: str) -> argparse.Namespace:
    """The options of a ``%%hpo`` line; a :class:`UsageError` names what is wrong."""
    try:
        argv = shlex.split(line)
    except ValueError as e:
        raise UsageError(f"%%hpo: cannot read the options {line!r}: {e}") from None
    opts, rest = _parser().parse_known_args(argv)
    if rest:
        bad = rest[0]
        if bad.startswith("-"):
            key = bad.split("=", 1)[0]
            close = difflib.get_close_matches(key.lstrip("-"),
                                              [o[2:] for o in VALID_OPTIONS], n=1, cutoff=0.7)
            hint = f" (did you mean --{close[0]}?)" if close else ""
            raise UsageError(f"%%hpo: unknown option {key!r}{hint}; the options are:\n"
                             f"{_options_text()}")
        raise UsageError(f"%%hpo: unexpected argument {bad!r}; options take the form "
                         f"--option VALUE:\n{_options_text()}")
    if opts.name is not None and (not opts.name.isidentifier() or keyword.iskeyword(opts.name)):
        raise UsageError(f"%%hpo: --name {opts.name!r} must be a Python identifier (it names "
                         "the variable the scan is bound to), e.g. --name mlp_scan")
    if not opts.metric.isidentifier() or keyword.iskeyword(opts.metric):
        raise UsageError(f"%%hpo: --metric {opts.metric!r} must be a variable name the cell "
                         "sets, e.g. --metric val_acc")
    if opts.mode is None and metric_direction(opts.metric) is None:
        raise UsageError(f"%%hpo: cannot tell whether {opts.metric!r} should be minimised or "
                         "maximised; add --mode min or --mode max")
    return opts


def default_name(source: str) -> str:
    """``hpo_<hash>``: re-running the same cell continues its scan; an edited cell starts
    a new one."""
    text = "\n".join(ln.rstrip() for ln in source.strip().splitlines())
    return "hpo_" + hashlib.sha1(text.encode()).hexdigest()[:8]


# -- the magics ----------------------------------------------------------------------------
_last: weakref.ref[Scan] | None = None
_COMMANDS = ("list", "stop", "pause", "resume", "load", "panel", "output", "help")
_HELP = f"""\
%%hpo [options]  (a cell)  runs the cell as a scan in the background; annotate the
    assignments to tune: `lr = 1e-3  # hpo: log(1e-4, 1e-1)`. The scan is bound to
    _hpo (and to --name) and its dashboard shown.
    Annotations: {", ".join(FORMS)}
    Options:
{_options_text()}
%hpo [list [STORE]]            the scans of this kernel and of STORE (default hpo_scans)
%hpo stop|pause|resume [NAME]  steer a scan (default: the last %%hpo scan)
%hpo load PATH                 open a stored scan, bound to a variable named after it
%hpo panel [NAME]              its dashboard in JupyterLab's right side panel
%hpo output [NAME] TRIAL       what that trial printed (or its traceback)"""


def _var_name(name: str) -> str:
    v = re.sub(r"\W", "_", name)
    if not v or v[0].isdigit():
        v = "_" + v
    if keyword.iskeyword(v):
        v += "_"
    return v


@magics_class
class HpoMagics(Magics):
    """``%%hpo`` (a cell becomes a scan) and ``%hpo`` (list and steer scans)."""

    @cell_magic("hpo")
    def hpo_cell(self, line: str, cell: str) -> None:
        """Run this cell as a hyperparameter scan in the background.

        Annotate the assignments to tune with ``# hpo:`` comments (see
        ``hpo_widgets.magics``); the cell stays ordinary Python with its defaults.
        The scan is bound to ``_hpo`` (and to ``--name``) and its dashboard shown.
        """
        global _last
        opts = parse_options(line)
        if opts.help:
            print(_HELP)
            return
        name = opts.name or default_name(cell)
        parsed = parse_cell(cell, first_line=2, filename=f"<%%hpo {name}>",
                            header=f"%%hpo {line}")
        if not parsed.params:
            raise UsageError("%%hpo: the cell has no '# hpo:' annotations; annotate the "
                             "assignments to tune, e.g. `lr = 1e-3  # hpo: log(1e-4, 1e-1)`")
        if opts.metric not in parsed.assigned:
            sets = sorted(n for n in parsed.assigned if n not in parsed.params)
            close = difflib.get_close_matches(opts.metric, sets, n=1)
            hint = f"did you mean --metric {close[0]}? " if close else ""
            raise UsageError(f"%%hpo: the cell never sets {opts.metric!r}, the metric read "
                             f"after each trial; {hint}assign it in the cell (`{opts.metric} "
                             f"= ...`) or pass --metric NAME (the cell sets: "
                             f"{', '.join(sets) or 'nothing else'})")
        try:
            path = scan_dir(opts.store, name)
        except ValueError as e:
            raise UsageError(f"%%hpo: {e}") from None
        other = _scan_mod._live.get(str(path))
        if other is not None and other.status in ("running", "paused", "stopping"):
            raise UsageError(f"%%hpo: scan {name!r} is already running in this kernel "
                             f"({other.status}); stop it first (%hpo stop {name}) or give "
                             "this cell another --name")
        objective = CellObjective(parsed, dict(self.shell.user_ns), opts.metric, name=name)
        try:
            scan = Scan(objective, parsed.space, metric=opts.metric, mode=opts.mode,
                        strategy=opts.strategy, max_trials=opts.trials, time_limit=opts.time,
                        n_jobs=opts.jobs, seed=opts.seed, pruner=opts.pruner, name=name,
                        store=opts.store, trial_timeout=opts.trial_timeout)
        except (ValueError, TypeError) as e:
            raise UsageError(f"%%hpo: {e}") from None
        if not opts.no_start:
            try:
                scan.start()
            except ScanLocked as e:
                raise UsageError(f"%%hpo: {e}") from None
        self.shell.user_ns["_hpo"] = scan
        if opts.name:
            self.shell.user_ns[opts.name] = scan
        _last = weakref.ref(scan)
        from IPython.display import display

        display(scan)

    @line_magic("hpo")
    def hpo_line(self, line: str) -> Any:
        """List and steer scans.

        ``%hpo`` or ``%hpo list [STORE]``: the scans of this kernel and of the store
        (a DataFrame); ``%hpo stop|pause|resume [NAME]`` (default: the last ``%%hpo``
        scan); ``%hpo load PATH`` (binds the scan to a variable named after it);
        ``%hpo panel [NAME]`` (the dashboard in JupyterLab's side panel);
        ``%hpo output [NAME] TRIAL`` (what that trial printed).
        """
        try:
            args = shlex.split(line)
        except ValueError as e:
            raise UsageError(f"%hpo: cannot read {line!r}: {e}") from None
        if not args or args[0] == "list":
            if len(args) > 2:
                raise UsageError("%hpo list takes at most one argument, the store folder")
            # an absolute store: hw.scans keys rows by path, and the kernel's scans have
            # absolute paths, so a relative store would list each of them twice
            store = Path(args[1] if len(args) == 2 else "hpo_scans").expanduser().resolve()
            return scans(store)
        cmd, rest = args[0], args[1:]
        if cmd in ("help", "--help", "-h"):
            print(_HELP)
            return None
        if cmd in ("stop", "pause", "resume"):
            if len(rest) > 1:
                raise UsageError(f"%hpo {cmd} takes one scan name, got {rest}")
            scan = _find(rest[0] if rest else None)
            _steer(scan, cmd)
            return None
        if cmd == "load":
            if len(rest) != 1:
                raise UsageError("%hpo load takes the path of a stored scan, e.g. "
                                 "%hpo load hpo_scans/mlp")
            scan = _load(rest[0])
            var = _var_name(scan.name)
            self.shell.user_ns[var] = scan
            print(f"scan {scan.name!r} bound to {var}")
            from IPython.display import display

            display(scan)
            return None
        if cmd == "panel":
            if len(rest) > 1:
                raise UsageError(f"%hpo panel takes one scan name, got {rest}")
            _find(rest[0] if rest else None).dock()
            return None
        if cmd == "output":
            if len(rest) not in (1, 2):
                raise UsageError("%hpo output takes [NAME] TRIAL, e.g. %hpo output mlp 3")
            scan = _find(rest[0] if len(rest) == 2 else None)
            _print_output(scan, rest[-1])
            return None
        close = difflib.get_close_matches(cmd, _COMMANDS, n=1)
        hint = f"did you mean %hpo {close[0]}? " if close else ""
        raise UsageError(f"%hpo: unknown command {cmd!r}; {hint}the commands are "
                         f"{', '.join(_COMMANDS)} (and %%hpo for a cell)")


def _live_scans() -> list[Scan]:
    return [s for s in list(_scan_mod._live.values()) if s is not None]


def _find(name: str | None) -> Scan:
    live = _live_scans()
    known = ", ".join(sorted({s.name for s in live})) or "none"
    if name is None:
        last = _last() if _last is not None else None
        if last is None:
            raise UsageError(f"%hpo: no %%hpo scan yet in this kernel; name one (known: "
                             f"{known})")
        return last
    full = str(Path(name).expanduser().resolve())
    found = [s for s in live if s.name == name or str(s.path) == full]
    if len(found) > 1:
        active = [s for s in found if s.status in ("running", "paused", "stopping")]
        found = active or found
    if not found:
        close = difflib.get_close_matches(name, [s.name for s in live], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(f"%hpo: no scan named {name!r} in this kernel; {hint}known: {known} "
                         "(%hpo load PATH opens a stored one)")
    if len(found) > 1:
        paths = ", ".join(str(s.path) for s in found)
        raise UsageError(f"%hpo: several scans are named {name!r} ({paths}); give the path")
    return found[0]


def _steer(scan: Scan, cmd: str) -> None:
    status = scan.status
    if cmd == "pause":
        if status != "running":
            print(f"scan {scan.name!r} is {status}; nothing to pause")
            return
        scan.pause()
    elif cmd == "stop":
        if status not in ("running", "paused"):
            print(f"scan {scan.name!r} is {status}; nothing to stop")
            return
        scan.stop()
    else:
        if status in ("running", "stopping"):
            print(f"scan {scan.name!r} is {status}; nothing to resume")
            return
        try:
            scan.resume()
        except (ValueError, ScanLocked) as e:
            raise UsageError(f"%hpo resume: {e}") from None
    print(scan)


def _load(path: str) -> Scan:
    full = str(Path(path).expanduser().resolve())
    for s in _live_scans():
        if str(s.path) == full:
            return s
    try:
        return load(path)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise UsageError(f"%hpo load: cannot open {path!r}: {e}") from None


def _print_output(scan: Scan, which: str) -> None:
    try:
        tid = int(which)
    except ValueError:
        raise UsageError(f"%hpo output: the trial is a number, got {which!r}") from None
    t = next((t for t in scan.trials if t.id == tid), None)
    if t is None:
        raise UsageError(f"%hpo output: scan {scan.name!r} has no trial {tid} (it has "
                         f"{len(scan.trials)} trials)")
    if t.status == "failed":
        print(t.traceback or t.error or "(failed, no traceback)")
    else:
        print(t.metrics.get("stdout") or f"(trial {tid} printed nothing)", end="")


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%hpo`` and ``%hpo`` (``%load_ext hpo_widgets``)."""
    ipython.register_magics(HpoMagics)
    if getattr(ipython, "kernel", None) is not None:
        # Say hello to JupyterLab's side-panel API now, so that `%hpo panel` in a later
        # cell knows whether it is really there (see hpo_widgets.lab).
        try:
            from .lab import frontend

            frontend()
        except ImportError:
            pass
