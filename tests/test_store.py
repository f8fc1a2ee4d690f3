"""Durability: SQLite store, reopening, resuming, and surviving SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import hpo_widgets as hw
from hpo_widgets.store import ScanLocked, Store

SPACE = {"x": (0.0, 1.0), "k": [1, 2, 3]}


def loss(params):
    return {"loss": (params["x"] - 0.3) ** 2 + params["k"], "x2": params["x"] * 2}


def test_store_is_sqlite_in_wal_mode_one_db_per_scan(store):
    scan = hw.Scan(loss, SPACE, metric="loss", max_trials=3, name="mlp", store=store)
    scan.start().wait(10)
    db = store / "mlp" / "trials.sqlite"
    assert db.exists()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM trials WHERE status='finished'").fetchone()[0] == 3
    con.close()


def test_load_reopens_results_and_settings(store):
    scan = hw.Scan(loss, SPACE, metric="loss", max_trials=7, name="mlp", store=store, seed=3)
    scan.start().wait(10)
    again = hw.load(store / "mlp")
    assert again.metric == "loss" and again.mode == "min" and again.max_trials == 7
    assert again.space == scan.space
    a, b = scan.results, again.results
    assert a.drop(columns=["started"]).equals(b.drop(columns=["started"]))
    assert again.best.params == scan.best.params
    with pytest.raises(ValueError, match="without an objective.*objective="):
        again.start()


def test_load_with_objective_resumes_to_a_new_max(store):
    scan = hw.Scan(loss, SPACE, metric="loss", max_trials=5, name="mlp", store=store)
    scan.start().wait(10)
    more = hw.load(store / "mlp", objective=loss, max_trials=12)
    more.start().wait(10)
    assert more.n_done == 12 and len(more.results) == 12
    assert [t.params for t in more.trials[:5]] == [t.params for t in scan.trials]


def test_load_of_a_missing_scan_says_where_it_looked(store):
    with pytest.raises(FileNotFoundError, match="no stored scan.*hw.scans"):
        hw.load(store / "nope")


def test_constructing_the_same_scan_again_continues_it(store):
    first = hw.Scan(loss, SPACE, metric="loss", max_trials=4, name="mlp", store=store, seed=1)
    first.start().wait(10)
    second = hw.Scan(loss, SPACE, metric="loss", max_trials=10, name="mlp", store=store,
                     seed=1)
    assert second.n_done == 4 and "continued" in second.message
    second.start().wait(10)
    assert second.n_done == 10
    assert [t.id for t in second.trials] == list(range(10))


def test_a_running_scan_cannot_be_started_twice(store):
    gate = threading.Event()

    def slow(params):
        gate.wait(5)
        return params["x"]

    a = hw.Scan(slow, SPACE, max_trials=3, name="busy", store=store)
    a.start()
    b = hw.Scan(slow, SPACE, max_trials=3, name="busy", store=store)
    with pytest.raises(ScanLocked, match="already running in this kernel"):
        b.start()
    gate.set()
    a.wait(10)
    b.start().wait(10)   # free once the first has ended


def test_scans_lists_kernel_and_stored_scans(store):
    kept = hw.Scan(loss, SPACE, metric="loss", max_trials=2, name="one", store=store)
    kept.start().wait(10)
    # a scan only in the store (written by another process, say)
    Store(store / "two").update_meta({"name": "two", "metric": "loss", "mode": "min",
                                      "status": "finished", "space": {}})
    df = hw.scans(store)
    assert set(df.name) >= {"one", "two"}
    one = df[df.name == "one"].iloc[0]
    assert one.status == "finished" and one.trials == 2 and one["where"] == "kernel"
    assert df[df.name == "two"].iloc[0]["where"] == "store"


def test_listing_scans_writes_nothing(store):
    done = hw.Scan(loss, SPACE, metric="loss", max_trials=3, name="done", store=store)
    done.start().wait(10)
    done.close()
    folder = store / "done"
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}
    from hpo_widgets.store import list_stored

    rows = list_stored(store)
    assert [(r["name"], r["trials"], r["status"]) for r in rows] == [("done", 3, "finished")]
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}
    assert after == before   # no file touched, none created (no -wal/-shm left behind)


def test_interrupted_trials_do_not_count_and_resume_reaches_max_exactly(store):
    # a process died with two trials running: simulate its rows
    s = Store(store / "mlp")
    s.add(hw.Trial(id=0, params={"x": 0.1, "k": 1}, status="finished",
                   metrics={"loss": 1.04}, value=1.04, started=1.0, finished=2.0))
    s.add(hw.Trial(id=1, params={"x": 0.2, "k": 1}, status="running", started=2.0))
    s.add(hw.Trial(id=2, params={"x": 0.3, "k": 1}, status="running", started=2.0))
    s.close()
    scan = hw.Scan(loss, SPACE, metric="loss", max_trials=5, name="mlp", store=store)
    assert scan.counts["interrupted"] == 2 and scan.n_done == 1
    scan.start().wait(10)
    c = scan.counts
    assert c["finished"] == 5 and c["interrupted"] == 2


CHILD = textwrap.dedent("""
    import json, sys, time
    import hpo_widgets as hw

    def objective(params):
        time.sleep(0.03)
        return {"loss": (params["x"] - 0.3) ** 2 + params["k"], "x2": params["x"] * 2}

    scan = hw.Scan(objective, {"x": (0.0, 1.0), "k": [1, 2, 3]}, metric="loss",
                   max_trials=40, seed=7, n_jobs=2, name="crash", store=sys.argv[1])

    def announce(event):
        if event.kind == "trial_finished":
            t = event.trial
            print(json.dumps({"id": t.id, "params": t.params, "metrics": t.metrics,
                              "status": t.status}), flush=True)

    scan.subscribe(announce)
    scan.start()
    scan.wait()
    print("DONE", scan.counts["finished"], flush=True)
""")


def test_sigkill_mid_scan_loses_nothing_and_rerunning_the_cell_finishes_it(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, str(script), str(store)], stdout=subprocess.PIPE,
                            text=True)
    announced = []
    deadline = time.time() + 60
    while len(announced) < 12 and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        announced.append(json.loads(line))
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=10)
    announced += [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    assert proc.returncode == -signal.SIGKILL
    assert 12 <= len(announced) < 40

    reopened = hw.load(store / "crash")
    by_id = {t.id: t for t in reopened.trials}
    for a in announced:   # everything a listener heard of is there, identical
        t = by_id[a["id"]]
        assert t.status == a["status"] == "finished"
        assert t.params == a["params"] and t.metrics == a["metrics"]
    assert reopened.counts["running"] == 0

    # "re-running the cell": the same script continues the stored scan to max_trials
    out = subprocess.run([sys.executable, str(script), str(store)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "DONE 40"
    final = hw.load(store / "crash")
    assert final.counts["finished"] == 40
    assert final.n_done == 40
    assert len(final.trials) == 40 + final.counts["interrupted"]
    for a in announced:
        assert final.trials[a["id"]].params == a["params"]


def test_scans_lists_a_live_scan_once_with_a_relative_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kept = hw.Scan(loss, SPACE, metric="loss", max_trials=2, name="rel", store="hpo_scans")
    kept.start().wait(10)
    df = hw.scans("hpo_scans")
    assert (df.name == "rel").sum() == 1


def test_constructing_a_scan_that_runs_elsewhere_leaves_its_stored_state(store):
    gate = threading.Event()

    def slow(params):
        gate.wait(5)
        return params["x"]

    a = hw.Scan(slow, SPACE, max_trials=2, name="busy", store=store)
    a.start()
    hw.Scan(slow, SPACE, max_trials=99, name="busy", store=store)   # e.g. a re-run cell
    assert Store(store / "busy").get_meta("status") == "running"
    assert Store(store / "busy").get_meta("max_trials") == 2
    gate.set()
    a.wait(10)
