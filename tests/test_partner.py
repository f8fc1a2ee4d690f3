"""The human's side of a scan (issue 14): ideas to try (``enqueue``), trials to leave
out (``exclude``/``include``), the settings history and ``scan.analyze()``."""

from __future__ import annotations

import gc
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import hpo_widgets as hw
from hpo_widgets.store import SCHEMA_VERSION

SPACE = {"x": (0.0, 1.0), "c": ["a", "b"]}


def bowl(params):
    return (params["x"] - 0.83) ** 2 + (0.0 if params["c"] == "b" else 0.05)


def _until(cond, timeout=20.0):
    end = time.time() + timeout
    while not cond():
        assert time.time() < end, "timed out"
        time.sleep(0.01)


def test_enqueued_points_run_first_and_show_as_the_users(tmp_path):
    scan = hw.Scan(bowl, SPACE, strategy="random", max_trials=5, seed=0, store=tmp_path,
                   name="e")
    ids = scan.enqueue([{"x": 0.5}, {"x": 0.7, "c": "b"}])
    assert ids == [0, 1]
    assert scan.counts["queued"] == 2 and scan.n_done == 0   # not counted until they run
    scan.start().wait(20)
    df = scan.results
    assert len(df) == 5 and set(df.status) == {"finished"}
    assert df.loc[[0, 1], "source"].tolist() == ["user", "user"]
    assert set(df.loc[[2, 3, 4], "source"]) == {"random"}
    assert df.loc[0, "x"] == 0.5 and df.loc[1, "c"] == "b"
    # run first: started before any of the strategy's proposals
    assert df.loc[[0, 1], "started"].max() <= df.loc[[2, 3, 4], "started"].min()
    # a partial dict is filled from the middle of the space before any trial exists
    assert df.loc[0, "c"] in ("a", "b")


def test_an_idea_enqueued_while_running_runs_before_the_next_proposal(tmp_path):
    go = threading.Event()

    def slow(params):
        go.wait(10)
        return bowl(params)

    scan = hw.Scan(slow, SPACE, max_trials=4, seed=1, store=tmp_path, name="live")
    scan.start()
    _until(lambda: scan.counts["running"] == 1)
    best_so_far = scan.enqueue({"x": 0.8})
    go.set()
    assert scan.wait(20)
    df = scan.results
    assert df.loc[best_so_far[0], "source"] == "user"
    assert best_so_far == [1]   # the very next trial after the running one
    assert df.loc[1, "status"] == "finished" and len(df) == 4


def test_enqueue_fills_from_the_best_trial_and_names_bad_input(tmp_path):
    scan = hw.Scan(bowl, SPACE, max_trials=6, seed=0, store=tmp_path, name="fill")
    scan.start().wait(20)
    best = scan.best
    tid = scan.enqueue({"x": 0.25})[0]
    assert scan.trial(tid).params == {"x": 0.25, "c": best.params["c"]}
    with pytest.raises(ValueError, match="unknown parameter.*'lr'"):
        scan.enqueue({"lr": 0.1})
    with pytest.raises(ValueError, match="x=1.5 is outside"):
        scan.enqueue({"x": 1.5})
    with pytest.raises(ValueError, match="c='z' is outside"):
        scan.enqueue([{"x": 0.1}, {"c": "z"}])
    with pytest.raises(ValueError, match="x"):
        scan.enqueue({"x": float("nan")})
    with pytest.raises(TypeError, match="dict"):
        scan.enqueue([0.3])
    assert scan.counts["queued"] == 1   # nothing half-enqueued by a refused call


def test_a_bayes_proposal_after_an_enqueued_best_moves_toward_it(tmp_path):
    def peak(params):   # a broad local optimum at 0.2, a narrow better one at 0.9
        x = params["x"]
        return min((x - 0.2) ** 2 + 0.05, 50 * (x - 0.9) ** 2)

    space = {"x": (0.0, 1.0)}
    scan = hw.Scan(peak, space, strategy=hw.Bayes(n_initial=4), max_trials=6, seed=3,
                   store=tmp_path, name="b")
    scan.start().wait(60)
    without = scan.strategy.ask(scan.space, scan.trials, [])["x"]
    scan.enqueue({"x": 0.9})
    scan.max_trials = 8
    scan.start().wait(60)
    df = scan.results
    assert df.loc[6, "source"] == "user"
    after = df.loc[7, "x"]
    assert df.loc[7, "source"] == "bayes"
    assert abs(without - 0.2) < 0.15        # the machine alone keeps to the broad one
    assert abs(after - 0.9) < abs(without - 0.9)
    assert abs(after - 0.9) < 0.15


def test_excluded_trials_do_not_change_the_next_proposal(tmp_path):
    space = {"x": (0.0, 1.0)}
    scan = hw.Scan(lambda p: (p["x"] - 0.2) ** 2 if p["x"] != 0.77 else -100.0, space,
                   strategy=hw.Bayes(n_initial=4), max_trials=6, seed=5, store=tmp_path,
                   name="x")
    scan.start().wait(60)
    clean = scan.strategy.ask(scan.space, scan.trials, [])
    bug = scan.enqueue({"x": 0.77})[0]   # a run that "hit a data bug": a too-good score
    scan.max_trials = 7
    scan.start().wait(60)
    assert scan.best.id == bug
    polluted = scan.strategy.ask(scan.space, [t for t in scan.trials if t.done], [])
    assert polluted != clean
    scan.exclude(bug, "data bug")
    assert scan.best.id != bug                        # not the best any more
    assert scan.results.loc[bug, "excluded"] == "data bug"   # still in the table
    scan.max_trials = 8
    scan.start().wait(60)
    assert scan.results.loc[7, "x"] == pytest.approx(clean["x"])   # as if never learnt
    # reversible, and stored
    scan.include(bug)
    assert scan.best.id == bug
    scan.exclude(bug, "data bug")
    seen = hw.load(tmp_path / "x")
    assert seen.results.loc[bug, "excluded"] == "data bug"
    assert seen.best.id != bug and seen.trial(bug).status == "finished"


def test_exclude_while_running_is_applied_by_the_driver(tmp_path):
    go = threading.Event()

    def slow(params):
        go.wait(10)
        return params["x"]

    scan = hw.Scan(slow, {"x": (0.0, 1.0)}, max_trials=3, seed=0, store=tmp_path, name="r",
                   mode="max")
    scan.start()
    go.set()
    _until(lambda: scan.n_done >= 1)
    scan.exclude(0, "flaky")
    assert scan.wait(20)
    assert scan.trial(0).excluded == "flaky"
    assert scan.best is None or scan.best.id != 0
    with pytest.raises(KeyError, match="no trial 99"):
        scan.exclude(99)


def test_enqueued_trials_survive_a_restart_in_a_new_process(tmp_path):
    scan = hw.Scan(bowl, SPACE, max_trials=3, seed=0, store=tmp_path, name="q")
    scan.start().wait(20)
    ids = scan.enqueue([{"x": 0.11}, {"x": 0.22}])   # max_trials reached: they wait
    scan.close()
    seen = hw.load(tmp_path / "q")
    assert seen.counts.get("queued") == 2 and seen.n_done == 3
    assert seen.results.loc[ids, "status"].tolist() == ["queued", "queued"]
    code = textwrap.dedent(f"""
        import hpo_widgets as hw
        def bowl(params):
            return (params["x"] - 0.83) ** 2 + (0.0 if params["c"] == "b" else 0.05)
        s = hw.Scan(bowl, {SPACE!r}, max_trials=5, seed=0, store={str(tmp_path)!r}, name="q")
        s.start().wait(30)
        print(s.results.loc[{ids!r}, ["x", "status", "source"]].to_json())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert list(got["x"].values()) == [0.11, 0.22]
    assert set(got["status"].values()) == {"finished"}
    assert set(got["source"].values()) == {"user"}


def test_a_stopped_scan_keeps_its_queue_and_a_second_object_runs_it(tmp_path):
    go = threading.Event()

    def slow(params):
        go.wait(10)
        return bowl(params)

    scan = hw.Scan(slow, SPACE, max_trials=10, seed=0, store=tmp_path, name="s")
    scan.start()
    _until(lambda: scan.counts["running"] == 1)
    queued = scan.enqueue([{"x": 0.3}, {"x": 0.4}])
    scan.stop()
    go.set()
    assert scan.wait(20)
    assert [scan.trial(i).status for i in queued] == ["queued", "queued"]   # not interrupted
    again = hw.Scan(bowl, SPACE, max_trials=3, seed=0, store=tmp_path, name="s")
    assert again.counts["queued"] == 2
    again.start().wait(20)
    assert [again.trial(i).status for i in queued] == ["finished", "finished"]


def test_the_settings_history_says_what_changed_when_and_by_whom(tmp_path):
    scan = hw.Scan(bowl, SPACE, max_trials=4, seed=0, store=tmp_path, name="log")
    scan.start().wait(20)
    scan.narrow(x=(0.5, 1.0), by="suggestion")
    scan.max_trials = 6
    scan.strategy = "sobol"
    scan.enqueue({"x": 0.9})
    scan.exclude(0, "bug")
    scan.include(0)
    log = scan.settings_log
    assert log["what"].tolist() == ["space", "max_trials", "strategy", "enqueue", "exclude",
                                    "include"]
    assert log["by"].tolist() == ["suggestion", "user", "user", "user", "user", "user"]
    assert log.loc[0, "change"] == {"x": [0.5, 1.0]}
    assert log.loc[1, "change"] == {"from": 4, "to": 6}
    assert log["at"].is_monotonic_increasing
    with pytest.raises(ValueError, match="by must be"):
        scan.narrow(x=(0.6, 1.0), by="machine")
    scan.start().wait(20)
    seen = hw.load(tmp_path / "log")     # stored, and shown to a later reader
    assert seen.settings_log["what"].tolist() == log["what"].tolist()
    assert seen.settings_log.loc[0, "by"] == "suggestion"


def test_analyze_leaves_out_excluded_trials(tmp_path):
    scan = hw.Scan(bowl, SPACE, max_trials=30, seed=0, store=tmp_path, name="an")
    scan.start().wait(30)
    a = scan.analyze()
    assert a.n_trials == 30 and a.n_excluded == 0
    assert set(a.correlation.param) == {"x"} and set(a.importance.param) == {"x", "c"}
    scan.exclude(3, "bug")
    assert scan.analyze().n_trials == 29


def test_a_version_1_store_is_read_and_migrated(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    con = sqlite3.connect(folder / "trials.sqlite")
    con.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE trials (id INTEGER PRIMARY KEY, status TEXT NOT NULL,
            params TEXT NOT NULL, metrics TEXT, value REAL, started REAL, finished REAL,
            error TEXT, traceback TEXT, curve TEXT, worker TEXT);
        PRAGMA user_version = 1;
    """)
    meta = {"space": {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False}},
            "metric": "value", "mode": "min", "name": "old", "schema": 1,
            "status": "finished", "strategy": {"name": "random"}}
    con.executemany("INSERT INTO meta VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in meta.items()])
    con.executemany("INSERT INTO trials(id, status, params, metrics, value, started, finished)"
                    " VALUES (?, 'finished', ?, ?, ?, 0, 1)",
                    [(i, json.dumps({"x": i / 10}), json.dumps({"value": i / 10}), i / 10)
                     for i in range(3)])
    con.commit()
    con.close()
    seen = hw.load(folder)
    assert seen.results["source"].isna().all() and seen.best.id == 0
    assert seen.settings_log.empty
    resumed = hw.load(folder, objective=lambda p: p["x"], max_trials=4)
    resumed.enqueue({"x": 0.05})   # a writer migrates the file first
    resumed.start().wait(20)
    resumed.close()
    con = sqlite3.connect(folder / "trials.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert con.execute("SELECT source FROM trials WHERE id = 3").fetchone()[0] == "user"
    con.close()
    assert hw.load(folder).best.params == {"x": 0.0}


def test_the_pruner_forgets_excluded_trials(tmp_path):
    def curve(params, trial):
        for step in range(3):
            trial.report(step, params["v"])
            if trial.should_prune():
                trial.prune()
        return params["v"]

    scan = hw.Scan(curve, {"v": [0.0, 1.0]}, pruner="median", max_trials=10, seed=0,
                   store=tmp_path, name="pr")
    scan.enqueue([{"v": 1.0}] * 5 + [{"v": 0.0}] * 5)   # five runs with a data bug: 0.0
    scan.start().wait(30)
    probe = scan.enqueue({"v": 1.0})[0]
    scan.max_trials = 11
    scan.start().wait(30)
    assert scan.trial(probe).status == "pruned"          # worse than the median with them
    for t in scan.trials:
        if t.params["v"] == 0.0:
            scan.exclude(t.id, "data bug")
    again = scan.enqueue({"v": 1.0})[0]
    scan.max_trials = 12
    scan.start().wait(30)
    assert scan.trial(again).status == "finished"        # the median without them


# -- two objects of one scan (a re-run cell, a viewer): changes made while idle ----------
def test_an_idle_change_through_a_stale_object_never_drops_anothers_write(tmp_path):
    a = hw.Scan(bowl, SPACE, max_trials=3, seed=0, store=tmp_path, name="two")
    a.start().wait(20)
    viewer = hw.load(tmp_path / "two")
    assert len(viewer.trials) == 3                      # the viewer holds its own copies
    a._add_metrics(1, {"test": 0.5})                     # what KerasScan.evaluate() does
    viewer.exclude(1, "data bug")                        # through the stale viewer
    stored = hw.load(tmp_path / "two").trial(1)
    assert stored.metrics.get("test") == 0.5 and stored.excluded == "data bug"


def test_an_idea_enqueued_through_one_object_runs_in_another(tmp_path):
    a = hw.Scan(bowl, SPACE, max_trials=3, seed=0, store=tmp_path, name="two")
    a.start().wait(20)
    b = hw.Scan(bowl, SPACE, max_trials=3, seed=0, store=tmp_path, name="two")
    (tid,) = a.enqueue({"x": 0.5})
    b.max_trials = 6
    b.start().wait(20)
    t = b.trial(tid)
    assert t is not None and t.status == "finished" and t.source == "user"
    assert hw.load(tmp_path / "two").counts.get("queued", 0) == 0


def test_the_list_of_scans_shows_the_best_that_is_learnt_from(tmp_path):
    scan = hw.Scan(bowl, SPACE, max_trials=6, seed=0, store=tmp_path, name="listed")
    scan.start().wait(20)
    best = scan.best
    scan.exclude(best.id, "data bug")
    learnt_best = scan.best.value
    del scan                      # the stored summary, not this kernel's live object
    gc.collect()
    listed = hw.scans(tmp_path).set_index("name").loc["listed"]
    assert listed["where"] == "store"
    assert listed["best"] == learnt_best != best.value


def test_a_change_refused_because_another_process_runs_the_scan_is_not_logged(tmp_path):
    from hpo_widgets.store import ScanLocked, Store

    scan = hw.Scan(bowl, SPACE, max_trials=3, seed=0, store=tmp_path, name="held")
    scan.start().wait(20)
    other = Store(tmp_path / "held")      # another process's run lock, as flock sees it
    other.acquire()
    try:
        with pytest.raises(ScanLocked):
            scan.exclude(0, "data bug")
    finally:
        other.release()
        other.close()
    scan.include(1)                       # a change that happens, logged with the rest
    assert scan.settings_log["what"].tolist().count("exclude") == 0
