"""The %%hpo and %hpo magics, headless, in a real IPython InteractiveShell."""

from __future__ import annotations

import gc
import threading
import time

import pytest

pytest.importorskip("IPython")

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

import hpo_widgets as hw
from hpo_widgets import magics
from hpo_widgets.magics import (
    STDOUT_LIMIT,
    AnnotationError,
    parse_annotation,
    parse_cell,
)
from hpo_widgets.scan import _live

CELL = """\
import math
lr = 1e-3          # hpo: log(1e-4, 1e-1)
units = 64         # hpo: [32, 64, 128]
dropout = 0.2      # hpo: (0.0, 0.5)
layers = 2         # hpo: int(1, 4)
val_loss = (math.log10(lr) + 2) ** 2 + units / 1000 + dropout + layers / 10
"""


def loss_of(lr, units, dropout, layers):
    import math

    return (math.log10(lr) + 2) ** 2 + units / 1000 + dropout + layers / 10


@pytest.fixture
def ip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = Config()
    c.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=c)
    shell.run_line_magic("load_ext", "hpo_widgets")
    magics.load_ipython_extension(shell)  # idempotent; also covers a reload
    before = set(shell.user_ns)
    yield shell
    for s in list(_live.values()):
        s.stop()
        s.wait(10)
    for k in set(shell.user_ns) - before:
        del shell.user_ns[k]
    magics._last = None


def hpo(ip, line, cell):
    """Run a %%hpo cell storing into ./s; returns the scan (bound to _hpo)."""
    if "--store" not in line:
        line += " --store s"
    ip.run_cell_magic("hpo", line, cell)
    return ip.user_ns["_hpo"]


# -- annotations --------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("log(1e-4, 1e-1)", hw.Float(1e-4, 1e-1, log=True)),
    ("log(16, 512)", hw.Int(16, 512, log=True)),
    ("log(1e-4, 1e-1, 4)", hw.Float(1e-4, 1e-1, log=True, num=4)),
    ("[32, 64, 128]", hw.Choice([32, 64, 128])),
    ("['relu', 'gelu', None]", hw.Choice(["relu", "gelu", None])),
    ("[True, False]", hw.Bool([True, False])),
    ("[7]", hw.Fixed(7)),
    ("(0.0, 0.5)", hw.Float(0.0, 0.5)),
    ("(1, 4)", hw.Int(1, 4)),
    ("(-1, 0.5)", hw.Float(-1, 0.5)),
    ("(0.0, 0.5, 6)", hw.Float(0.0, 0.5, num=6)),
    ("(1, 10, 4)", hw.Int(1, 10, num=4)),
    ("(1e-4, 1e-1, 'log')", hw.Float(1e-4, 1e-1, log=True)),
    ("int(1, 4)", hw.Int(1, 4)),
    ("int(16, 512, log=True)", hw.Int(16, 512, log=True)),
    ("int(0, 10, step=2)", hw.Int(0, 10, step=2)),
    ("float(0, 1, step=0.25)", hw.Float(0, 1, step=0.25)),
    ("float(1e-3, 1, log=True, num=4)", hw.Float(1e-3, 1, log=True, num=4)),
    ('choice("a", "b")', hw.Choice(["a", "b"])),
    ('choice(["a", "b"])', hw.Choice(["a", "b"])),
    ("bool", hw.Bool()),
    ("bool()", hw.Bool()),
    ("  [1, 2]   # a trailing note", hw.Choice([1, 2])),
])
def test_each_annotation_form_gives_its_parameter(text, expected):
    got = parse_annotation(text)
    assert got == expected, (got, expected)


@pytest.mark.parametrize("text, expected", [
    ("log(1e-4)", "line 5: cannot read 'hpo: log(1e-4)': log() needs (low, high)"),
    ("uniform(0, 1)", "unknown form uniform(); expected one of log(low, high)"),
    ("(1, 0)", "low (1) must be below high (0)"),
    ("(1, 2, 3, 4)", "a tuple is (low, high) or (low, high, n)"),
    ("(0.0, 1.0, 1)", "n, the number of values, must be a whole number >= 2"),
    ("(0.0, 1.0, 'lin')", "a count n or 'log'"),
    ("[1, x]", "x is not a literal value"),
    ("[1, 2 + 3]", "2 + 3 is not a literal value"),
    ("int(1.5, 4)", "whole number"),
    ("int(1, 4, lg=True)", "int() has no option 'lg'"),
    ("float(1)", "float() needs (low, high)"),
    ("bool(1)", "bool takes no arguments"),
    ("log", "log needs arguments, e.g. log(1e-4, 1e-1)"),
    ("fixed", "unknown name 'fixed'"),
    ("", "nothing after 'hpo:'"),
    ("log(1e-4, 1e-1", "not a valid annotation"),
    ("(0, 'a')", "high must be a number, got 'a'"),
    ("__import__('os').system('touch pwned')", "expected one of"),
    ("[open('pwned', 'w')]", "is not a literal value"),
])
def test_bad_annotations_say_the_line_and_what_is_expected(text, expected, tmp_path,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AnnotationError) as e:
        parse_annotation(text, line=5)
    assert e.value.line == 5 and str(e.value).startswith("line 5: ")
    assert expected in str(e.value)
    assert isinstance(e.value, ValueError)
    assert not (tmp_path / "pwned").exists()  # annotations are read, never run


def test_parse_cell_finds_annotated_assignments_and_keeps_their_lines():
    cell = (
        "import math\n"                                          # line 2 of the cell
        "lr: float = 1e-3  # hpo: log(1e-4, 1e-1)  # the learning rate\n"
        "units = 64  #hpo:[32, 64]\n"
        "# a plain comment, and a string '# hpo: [1]'\n"
        "s = '# hpo: [1, 2]'\n"
        "def f():\n"
        "    depth = 3  # hpo: int(1, 4)\n"
        "    return depth\n"
        "if True: act = 'relu'  # hpo: ['relu', 'gelu']\n"
        "val_loss = lr * f()\n"
    )
    p = parse_cell(cell, first_line=2)
    assert list(p.params) == ["lr", "units", "depth", "act"]
    assert p.lines == {"lr": 3, "units": 4, "depth": 8, "act": 10}
    assert p.defaults == {"lr": 1e-3, "units": 64, "depth": 3, "act": "relu"}
    assert p.space["units"] == hw.Choice([32, 64])
    assert p.assigned["val_loss"] == [11]
    ns = {"__hpo_params__": {"lr": 0.5, "units": 32, "depth": 2, "act": "gelu"}}
    exec(p.code, ns)
    assert (ns["lr"], ns["units"], ns["act"], ns["val_loss"], ns["s"]) == (
        0.5, 32, "gelu", 1.0, "# hpo: [1, 2]")


@pytest.mark.parametrize("body, line, expected", [
    ("a, b = 1, 2  # hpo: [1, 2]\n", 2, "needs a simple assignment `name = default`, got "
                                        "`(a, b) = ...`"),
    ("a = b = 1  # hpo: [1, 2]\n", 2, "got `a = b = ...`"),
    ("x = [1]\nx[0] = 1  # hpo: [1, 2]\n", 3, "got `x[0] = ...`"),
    ("a = 1\na += 1  # hpo: [1, 2]\n", 3, "not an augmented one"),
    ("a = 1\n# hpo: [1, 2]\n", 3, "this line assigns nothing"),
    ("print(1)  # hpo: [1, 2]\n", 2, "must end an assignment line such as"),
    ("for i in range(2):  # hpo: [1, 2]\n    pass\n", 2, "not `a for statement`"),
    ("a = 1  # hpo: [1, 2]\nb = 2\na = 3  # hpo: [3, 4]\n", 4,
     "'a' is already tuned on line 2"),
    ("a = 1\nb = 2  # hpo: log(1e-4)\n", 3, "cannot read 'hpo: log(1e-4)'"),
])
def test_bad_cells_name_the_line(body, line, expected):
    with pytest.raises(AnnotationError) as e:
        parse_cell(body, first_line=2)
    assert e.value.line == line
    assert str(e.value).startswith(f"line {line}: ") and expected in str(e.value)
    assert e.value.text and "hpo" in e.value.text  # the offending source line
    assert any(f"Cell line {line}:" in s for s in e.value._render_traceback_())


def test_magic_reports_annotation_errors_with_the_notebook_line(ip):
    cell = "lr = 1e-3  # hpo: log(1e-4, 1e-1)\nunits = 64  # hpo: log(1e-4)\nval_loss = lr\n"
    with pytest.raises(AnnotationError,
                       match=r"^line 3: cannot read 'hpo: log\(1e-4\)': log\(\) needs "
                             r"\(low, high\)"):
        ip.run_cell_magic("hpo", "--store s", cell)
    # In a notebook the error shows as the line and the message, no library traceback.
    res = ip.run_cell("%%hpo --store s\n" + cell)
    assert isinstance(res.error_in_exec, AnnotationError)
    assert "_hpo" not in ip.user_ns


def test_syntax_errors_keep_the_notebook_line(ip):
    with pytest.raises(SyntaxError) as e:
        ip.run_cell_magic("hpo", "--store s", "lr = 1e-3  # hpo: (0.0, 1.0)\nval_loss = (\n")
    assert e.value.lineno == 3


# -- options ------------------------------------------------------------------------------
@pytest.mark.parametrize("line, expected", [
    ("--trails 3", ["unknown option '--trials'".replace("trials", "trails"),
                    "did you mean --trials?", "--metric", "--store", "--no-start"]),
    ("--bogus", ["unknown option '--bogus'; the options are:\n  --metric NAME", "--mode"]),
    ("--trials=3 --jbos=2", ["unknown option '--jbos'", "did you mean --jobs?"]),
    ("stray", ["unexpected argument 'stray'"]),
    ("--trials x", ["--trials must be a whole number, got 'x'"]),
    ("--trials 0", ["--trials must be a whole number >= 1"]),
    ("--time -1", ["--time must be a finite number of seconds > 0"]),
    ("--trial-timeout inf", ["--trial-timeout must be a finite number of seconds > 0"]),
    ("--mode up", ["argument --mode: invalid choice: 'up'"]),
    ("--metric", ["argument --metric: expected one argument"]),
    ("--metric score_x", []),
    ("--metric foo", ["cannot tell whether 'foo' should be minimised or maximised",
                      "--mode min or --mode max"]),
    ("--metric 2x --mode min", ["--metric '2x' must be a variable name"]),
    ("--name 1abc", ["--name '1abc' must be a Python identifier"]),
    ("--strategy nope", ["nope"]),
    ("--pruner nope", ["nope"]),
    ("--strategy grid", ["grid"]),      # a continuous range has no grid
])
def test_bad_options_are_usage_errors(ip, line, expected):
    cell = "lr = 1e-3  # hpo: (0.0, 1.0)\nval_loss = lr\nscore_x = lr\nfoo = lr\n"
    if not expected:  # a score-like name: mode inferred, the scan runs
        scan = hpo(ip, line + " --trials 1", cell)
        assert scan.mode == "max" and scan.wait(10)
        return
    with pytest.raises(UsageError) as e:
        ip.run_cell_magic("hpo", f"{line} --store s", cell)
    assert type(e.value) is UsageError  # IPython shows these without a traceback
    for frag in expected:
        assert frag in str(e.value), (frag, str(e.value))


def test_no_annotations_and_an_unset_metric_are_caught_before_starting(ip):
    with pytest.raises(UsageError, match="no '# hpo:' annotations"):
        ip.run_cell_magic("hpo", "--store s", "lr = 1e-3\nval_loss = lr\n")
    with pytest.raises(UsageError) as e:
        ip.run_cell_magic("hpo", "--metric val_acc --store s",
                          "lr = 1e-3  # hpo: (0.0, 1.0)\nval_accuracy = lr\n")
    assert "never sets 'val_acc'" in str(e.value)
    assert "did you mean --metric val_accuracy?" in str(e.value)
    assert not list(_live.values()) or all(s.name != "hpo" for s in _live.values())


def test_help_lists_the_options(ip, capsys):
    ip.run_cell_magic("hpo", "--help", "pass")
    out = capsys.readouterr().out
    assert "--metric NAME" in out and "--trials N" in out and "log(low, high)" in out
    assert "_hpo" not in ip.user_ns
    ip.run_line_magic("hpo", "help")
    out = capsys.readouterr().out
    assert "%hpo stop|pause|resume [NAME]" in out and "--metric NAME" in out


# -- running trials -----------------------------------------------------------------------
def test_cell_keeps_its_defaults_when_run_plain(ip):
    res = ip.run_cell(CELL)
    assert res.success
    assert ip.user_ns["lr"] == 1e-3 and ip.user_ns["units"] == 64
    assert ip.user_ns["val_loss"] == pytest.approx(loss_of(1e-3, 64, 0.2, 2))


def test_each_trial_gets_its_values_and_the_metric_is_read(ip, capsys):
    scan = hpo(ip, "--trials 6 --seed 0 --name mlp", CELL)
    assert ip.user_ns["mlp"] is scan and ip.user_ns["_hpo"] is scan
    assert scan.name == "mlp" and scan.metric == "val_loss" and scan.mode == "min"
    assert scan.space == hw.Space(lr=hw.Float(1e-4, 1e-1, log=True),
                                  units=hw.Choice([32, 64, 128]), dropout=hw.Float(0.0, 0.5),
                                  layers=hw.Int(1, 4))
    assert scan.wait(10) and scan.status == "finished"
    assert "<Scan 'mlp'" in capsys.readouterr().out   # displayed (as text, headless)
    df = scan.results
    assert len(df) == 6 and (df.status == "finished").all()
    for _, row in df.iterrows():
        assert row.val_loss == pytest.approx(loss_of(row.lr, row.units, row.dropout,
                                                     row.layers))
    assert df.lr.nunique() == 6                        # not the default each time
    assert (tmp := scan.path).name == "mlp" and (tmp / "trials.sqlite").exists()


def test_trials_do_not_touch_the_users_namespace(ip):
    ip.run_cell("x = 1\nseen = []\nlr = 'mine'\n")
    cell = ("x = 99\n"
            "y_in_trial = 5\n"
            "lr = 1e-3  # hpo: (0.0, 1.0)\n"
            "seen.append(lr)\n"                          # shared objects are shared
            "val_loss = lr + x\n")
    scan = hpo(ip, "--trials 3 --seed 1", cell)
    assert scan.wait(10)
    assert ip.user_ns["x"] == 1 and ip.user_ns["lr"] == "mine"
    assert "y_in_trial" not in ip.user_ns and "__hpo_params__" not in ip.user_ns
    assert len(ip.user_ns["seen"]) == 3
    assert (scan.results.val_loss - scan.results.lr).round(9).eq(99).all()


def test_trials_start_from_the_globals_of_when_the_cell_ran(ip):
    ip.run_cell("import threading\ngate = threading.Event()\noffset = 10\n")
    cell = "gate.wait(5)\nlr = 1e-3  # hpo: (0.0, 1.0)\nval_loss = lr + offset\n"
    scan = hpo(ip, "--trials 2 --seed 0", cell)
    ip.run_cell("offset = 1000")                      # the user keeps working
    ip.user_ns["gate"].set()
    assert scan.wait(10)
    assert (scan.results.val_loss < 20).all()


def test_prints_are_captured_per_trial_not_poured_into_the_notebook(ip, capsys):
    cell = ("import sys\n"
            "lr = 1e-3  # hpo: (0.0, 1.0)\n"
            "print('lr is', lr)\n"
            "print('to stderr', file=sys.stderr)\n"
            "def helper():\n"
            "    print('from helper', round(lr, 3))\n"
            "helper()\n"
            "val_loss = lr\n")
    scan = hpo(ip, "--trials 4 --jobs 2 --seed 0", cell)
    assert scan.wait(10)
    captured = capsys.readouterr()
    assert "lr is" not in captured.out + captured.err
    for t in scan.trials:
        lr = t.params["lr"]
        assert t.metrics["stdout"] == (f"lr is {lr}\nto stderr\nfrom helper {round(lr, 3)}\n")
    assert "stdout" in scan.results.columns
    ip.run_line_magic("hpo", f"output {scan.name} 2")
    assert f"lr is {scan.trials[2].params['lr']}" in capsys.readouterr().out


def test_long_output_keeps_its_tail(ip):
    cell = "lr = 1e-3  # hpo: (0.0, 1.0)\nfor i in range(3000):\n    print(i)\nval_loss = lr\n"
    scan = hpo(ip, "--trials 1", cell)
    assert scan.wait(10)
    out = scan.trials[0].metrics["stdout"]
    assert out.startswith("[... ") and "earlier characters dropped]" in out
    assert out.endswith("2998\n2999\n") and len(out) < STDOUT_LIMIT + 100


def test_a_failing_trial_points_to_the_users_line_and_keeps_its_output(ip):
    cell = ("lr = 1e-3  # hpo: (0.0, 1.0)\n"
            "print('about to fail')\n"
            "val_loss = lr / 0\n")
    scan = hpo(ip, "--trials 2 --name broken", cell)
    assert scan.wait(10)
    t = scan.trials[0]
    assert t.status == "failed" and t.error == "ZeroDivisionError: float division by zero"
    assert 'File "<%%hpo broken>", line 4' in t.traceback
    assert "val_loss = lr / 0" in t.traceback              # the source line is shown
    assert "about to fail" in t.traceback


def test_a_metric_the_cell_did_not_set_fails_the_trial_with_its_lines(ip):
    ip.run_cell("val_loss = 0.5")   # a stale value from a plain run must not be read
    cell = ("lr = 1e-3  # hpo: (0.0, 1.0)\n"
            "if lr > 10:\n"
            "    val_loss = lr\n"
            "elif lr > 20:\n"
            "    val_loss = -lr\n")
    scan = hpo(ip, "--trials 2", cell)
    assert scan.wait(10)
    assert [t.status for t in scan.trials] == ["failed", "failed"]
    assert scan.trials[0].error == (
        "MetricNotSetError: the cell did not set 'val_loss' (the --metric variable) in this "
        "trial; it assigns it on lines 4, 6: make sure one of those runs")
    assert ip.user_ns["val_loss"] == 0.5


def test_a_cell_can_report_a_learning_curve_and_still_runs_plain(ip):
    cell = ("from hpo_widgets.magics import trial\n"
            "lr = 0.5  # hpo: (0.0, 1.0)\n"
            "for epoch in range(3):\n"
            "    val_loss = lr / (epoch + 1)\n"
            "    trial.report(epoch, val_loss)\n"
            "    if trial.should_prune():\n"
            "        break\n")
    assert ip.run_cell(cell).success and ip.user_ns["val_loss"] == pytest.approx(0.5 / 3)
    scan = hpo(ip, "--trials 3 --seed 0", cell)
    assert scan.wait(10)
    for t in scan.trials:
        assert [s for s, _ in t.curve] == [0.0, 1.0, 2.0]
        assert t.curve[-1][1] == pytest.approx(t.params["lr"] / 3)
    pruned = hpo(ip, "--trials 3 --pruner median --name pruned --no-start", cell)
    assert pruned.pruner is not None and pruned.status == "idle"


def test_rerunning_the_same_cell_continues_its_scan(ip):
    first = hpo(ip, "--trials 2 --seed 0", CELL)
    assert first.wait(10)
    second = hpo(ip, "--trials 3 --seed 0", CELL)
    assert second.wait(10)
    assert second.name == first.name and second.name.startswith("hpo_")
    assert len(second.results) == 3
    other = hpo(ip, "--trials 1", CELL.replace("int(1, 4)", "int(1, 5)"))  # edited cell
    assert other.name != first.name and other.wait(10)


def test_running_a_cell_twice_while_its_scan_runs_is_a_usage_error(ip):
    ip.run_cell("import threading\ngate = threading.Event()\n")
    cell = "gate.wait(5)\nlr = 1e-3  # hpo: (0.0, 1.0)\nval_loss = lr\n"
    scan = hpo(ip, "--trials 2 --name twice", cell)
    try:
        with pytest.raises(UsageError, match="already running in this kernel"):
            ip.run_cell_magic("hpo", "--trials 2 --name twice --store s", cell)
        assert ip.user_ns["twice"] is scan
    finally:
        ip.user_ns["gate"].set()
    assert scan.wait(10)


# -- %hpo ---------------------------------------------------------------------------------
def _until(cond, timeout=10.0):
    t0 = time.time()
    while not cond():
        assert time.time() - t0 < timeout, "condition not reached in time"
        time.sleep(0.01)


def test_line_magic_lists_and_steers_a_running_scan(ip, capsys):
    ip.run_cell("import threading\ngate = threading.Semaphore(0)\n")
    cell = "gate.acquire(timeout=5)\nlr = 1e-3  # hpo: (0.0, 1.0)\nval_loss = lr\n"
    scan = hpo(ip, "--trials 50 --name steered --store hpo_scans", cell)
    gate = ip.user_ns["gate"]
    _until(lambda: scan.counts["running"] == 1)   # the first trial waits on the gate

    df = ip.run_line_magic("hpo", "")
    row = df[df.name == "steered"]
    assert len(row) == 1                       # listed once, though it is also stored
    assert row.iloc[0].status == "running" and row.iloc[0]["where"] == "kernel"
    assert {"name", "status", "trials", "best"} <= set(df.columns)

    ip.run_line_magic("hpo", "pause steered")
    assert scan.status == "paused"
    gate.release()                             # the running trial finishes...
    _until(lambda: scan.n_done == 1)
    time.sleep(0.05)
    assert scan.counts["running"] == 0         # ...and no new one starts
    assert ip.run_line_magic("hpo", "list").set_index("name").loc["steered", "trials"] == 1

    ip.run_line_magic("hpo", "resume")         # no name: the last %%hpo scan
    assert scan.status == "running"
    _until(lambda: scan.counts["running"] == 1)  # a second trial started
    ip.run_line_magic("hpo", "stop steered")
    assert scan.status == "stopping"
    gate.release()
    assert scan.wait(10) and scan.status == "stopped" and scan.message == "stopped"
    assert scan.n_done == 2
    out = capsys.readouterr().out
    assert "<Scan 'steered' paused" in out and "<Scan 'steered' stopping" in out

    ip.run_line_magic("hpo", "pause steered")
    assert "scan 'steered' is stopped; nothing to pause" in capsys.readouterr().out


def test_line_magic_errors_name_the_known_scans(ip):
    scan = hpo(ip, "--trials 1 --name known_one", CELL)
    assert scan.wait(10)
    with pytest.raises(UsageError) as e:
        ip.run_line_magic("hpo", "stop known_on")
    assert "no scan named 'known_on'" in str(e.value)
    assert "did you mean 'known_one'?" in str(e.value) and "known:" in str(e.value)
    with pytest.raises(UsageError, match="unknown command 'stpo'; did you mean %hpo stop?"):
        ip.run_line_magic("hpo", "stpo known_one")
    with pytest.raises(UsageError, match="has no trial 7"):
        ip.run_line_magic("hpo", "output known_one 7")
    with pytest.raises(UsageError, match="cannot open"):
        ip.run_line_magic("hpo", "load no/such/scan")


def test_steer_without_any_scan_is_a_usage_error(ip):
    magics._last = None
    with pytest.raises(UsageError, match="no %%hpo scan yet"):
        ip.run_line_magic("hpo", "pause")


def test_load_binds_a_stored_scan_to_a_variable(ip, capsys):
    def objective(params):
        return params["x"]

    scan = hw.Scan(objective, {"x": (0.0, 1.0)}, max_trials=3, seed=0, name="stored-one",
                   store="elsewhere")
    scan.start().wait(10)
    scan.close()
    del scan
    gc.collect()
    ip.run_line_magic("hpo", "load elsewhere/stored-one")
    loaded = ip.user_ns["stored_one"]
    assert isinstance(loaded, hw.Scan) and loaded.name == "stored-one"
    assert len(loaded.results) == 3 and loaded.objective is None
    assert "bound to stored_one" in capsys.readouterr().out
    # a scan of this kernel is found as the same object
    live = hpo(ip, "--trials 1 --name here", CELL)
    live.wait(10)
    ip.run_line_magic("hpo", f"load {live.path}")
    assert ip.user_ns["here"] is live


def test_panel_docks_the_scans_dashboard(ip, monkeypatch):
    docked = []
    monkeypatch.setattr(hw.Scan, "dock", lambda self, **kw: docked.append(self))
    scan = hpo(ip, "--trials 1 --name docked --no-start", CELL)
    assert scan.status == "idle" and scan.n_done == 0      # --no-start
    ip.run_line_magic("hpo", "panel docked")
    assert docked == [scan]
    ip.run_line_magic("hpo", "resume docked")              # starts an idle scan
    assert scan.wait(10) and scan.n_done == 1


def test_threads_run_trials_in_parallel_each_with_its_own_namespace(ip):
    ip.run_cell("import threading\nbarrier = threading.Barrier(2, timeout=5)\n")
    cell = ("lr = 1e-3  # hpo: (0.0, 1.0)\n"
            "mine = lr\n"
            "barrier.wait()\n"                 # both trials are inside the cell at once
            "val_loss = mine\n")
    scan = hpo(ip, "--trials 2 --jobs 2 --seed 3", cell)
    assert scan.wait(10)
    assert (scan.results.status == "finished").all()
    assert (scan.results.val_loss == scan.results.lr).all()
    assert threading.active_count() < 50
