"""Scan: background lifecycle, objectives and their faults, events, executors."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import hpo_widgets as hw

SPACE = {"x": (0.0, 1.0), "act": ["relu", "elu"], "epochs": 3}


def quadratic(params):
    return (params["x"] - 0.3) ** 2


def test_start_returns_at_once_and_results_grow(store):
    release = threading.Event()

    def slow(params):
        release.wait(5)
        return params["x"]

    scan = hw.Scan(slow, SPACE, max_trials=6, store=store, n_jobs=2)
    t0 = time.perf_counter()
    scan.start()
    assert time.perf_counter() - t0 < 0.5
    assert scan.status == "running"
    _until(lambda: scan.counts["running"] == 2)
    time.sleep(0.1)   # n_jobs=2: no third trial starts while two run
    assert len(scan.results) == 2 and set(scan.results.status) == {"running"}
    release.set()
    assert scan.wait(10)
    df = scan.results
    assert scan.status == "finished" and "max_trials" in scan.message
    assert list(df.columns) == ["x", "act", "epochs", "value", "status", "source", "started",
                                "duration", "error", "excluded"]
    assert (df.status == "finished").all() and len(df) == 6
    assert df["value"].tolist() == pytest.approx(df["x"].tolist())


def test_float_result_is_recorded_under_the_metric_name(store):
    scan = hw.Scan(quadratic, SPACE, metric="val_loss", max_trials=5, store=store, seed=1)
    scan.start().wait(10)
    assert "val_loss" in scan.results.columns
    assert scan.best.metrics == {"val_loss": scan.best.value}
    assert scan.best.value == scan.results["val_loss"].min()


def test_dict_results_give_a_column_per_metric_and_mode_max(store):
    def objective(params):
        return {"val_f1": 1 - (params["x"] - 0.5) ** 2, "val_loss": params["x"], "n": 3}

    scan = hw.Scan(objective, SPACE, metric="val_f1", mode="max", max_trials=20,
                   store=store, seed=2)
    scan.start().wait(10)
    df = scan.results
    for col in ("val_f1", "val_loss", "n"):
        assert col in df.columns
    assert scan.best.value == pytest.approx(df.val_f1.max())


def test_mode_is_inferred_for_familiar_metrics_and_required_otherwise(store):
    assert hw.Scan(quadratic, SPACE, metric="val_loss", store=store).mode == "min"
    assert hw.Scan(quadratic, SPACE, metric="val_acc", store=store, name="b").mode == "max"
    with pytest.raises(ValueError, match="mode.*'min'.*'max'"):
        hw.Scan(quadratic, SPACE, metric="zork", store=store, name="c")
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        hw.Scan(quadratic, SPACE, mode="minimise", store=store, name="d")


def test_pause_resume_stop(store):
    gate = threading.Semaphore(0)

    def gated(params):
        gate.acquire(timeout=5)
        return params["x"]

    scan = hw.Scan(gated, SPACE, max_trials=50, store=store)
    scan.start()
    gate.release()
    gate.release()
    _until(lambda: scan.n_done >= 2)
    scan.pause()
    assert scan.status == "paused"
    gate.release()  # the running trial finishes and is recorded...
    _until(lambda: scan.counts["running"] == 0)
    n = scan.n_done
    time.sleep(0.3)
    assert scan.n_done == n and scan.counts["running"] == 0   # ...and no new one starts
    scan.resume()
    assert scan.status == "running"
    gate.release()
    _until(lambda: scan.n_done > n)
    scan.stop()
    assert scan.status == "stopping"
    for _ in range(3):
        gate.release()
    assert scan.wait(10)
    assert scan.status == "stopped" and scan.message == "stopped"
    assert scan.counts["running"] == 0
    assert scan.n_done < 50
    assert set(scan.results.status) == {"finished"}   # in-flight trials were recorded


def test_time_limit_stops_the_scan(store):
    def slowish(params):
        time.sleep(0.05)
        return params["x"]

    scan = hw.Scan(slowish, SPACE, max_trials=None, time_limit=0.5, store=store)
    scan.start()
    assert scan.wait(5)
    assert scan.status == "finished" and "time_limit" in scan.message
    assert 3 <= scan.n_done <= 12


def test_grid_runs_every_point_once_then_finishes(store):
    space = {"a": [1, 2, 3], "b": ["x", "y"], "c": 7}
    scan = hw.Scan(lambda p: p["a"], space, strategy="grid", max_trials=100, store=store,
                   name="grid")
    scan.start().wait(10)
    df = scan.results
    assert len(df) == 6 and "grid exhausted" in scan.message
    assert len({(r.a, r.b) for r in df.itertuples()}) == 6


@pytest.mark.parametrize("bad", [
    lambda p: 1 / 0,
    lambda p: float("nan"),
    lambda p: math.inf,
    lambda p: None,
    lambda p: "0.5",
    lambda p: {"other": 1.0},
    lambda p: {"value": "high"},
    lambda p: [1, 2],
])
def test_a_bad_trial_is_failed_with_a_reason_and_the_scan_goes_on(store, bad):
    calls = []

    def objective(params):
        calls.append(1)
        if len(calls) == 3:
            return bad(params)
        return params["x"]

    scan = hw.Scan(objective, SPACE, max_trials=6, store=store)
    scan.start().wait(10)
    df = scan.results
    assert scan.status == "finished" and len(df) == 6
    failed = df[df.status == "failed"]
    assert len(failed) == 1
    assert failed.error.iloc[0]
    assert scan.trials[2].status == "failed"
    assert scan.best is not None and scan.best.status == "finished"


def test_error_messages_say_what_was_wrong(store):
    outs = iter([lambda: 1 / 0, lambda: None, lambda: {"loss": 1.0}, lambda: float("nan"),
                 lambda: "x"])

    def objective(params):
        return next(outs)()

    scan = hw.Scan(objective, SPACE, max_trials=5, store=store)
    scan.start().wait(10)
    errs = [t.error for t in scan.trials]
    assert errs[0].startswith("ZeroDivisionError")
    assert "ZeroDivisionError" in scan.trials[0].traceback
    assert "returned None" in errs[1]
    assert "not 'value'" in errs[2] and "metric=" in errs[2]
    assert "nan" in errs[3]
    assert "returned a str" in errs[4]


def test_many_failures_in_a_row_stop_the_scan_with_a_clear_message(store):
    def broken(params):
        raise RuntimeError("cannot reach the GPU")

    scan = hw.Scan(broken, SPACE, max_trials=100, store=store, max_consecutive_failures=4)
    scan.start().wait(10)
    assert scan.status == "failed"
    assert "4 failed trials in a row" in scan.message
    assert "cannot reach the GPU" in scan.message
    assert scan.n_done == 4


def test_a_metric_the_objective_never_returns_fails_trials_then_the_scan(store):
    scan = hw.Scan(lambda p: {"loss": p["x"]}, SPACE, metric="val_loss", max_trials=50,
                   store=store)
    scan.start().wait(10)
    assert scan.status == "failed"
    assert "not 'val_loss'" in scan.message and "'loss'" in scan.message


def test_default_failure_limit_is_ten(store):
    scan = hw.Scan(lambda p: None, SPACE, max_trials=50, store=store)
    scan.start().wait(10)
    assert scan.status == "failed" and scan.n_done == 10


def test_hanging_trial_is_failed_and_the_scan_goes_on(store):
    def objective(params):
        if params["x"] > 0.5:
            time.sleep(30)   # a trial that never comes back
        return params["x"]

    scan = hw.Scan(objective, SPACE, max_trials=6, seed=0, store=store, trial_timeout=0.3)
    scan.start()
    assert scan.wait(15)
    df = scan.results
    assert len(df) == 6
    hung = df[df.status == "failed"]
    assert len(hung) >= 1 and hung.error.str.contains("trial_timeout").all()
    assert (df[df.status == "finished"].x <= 0.5).all()


@pytest.mark.parametrize("kwargs,match", [
    ({"max_trial": 10}, "unknown option 'max_trial'; did you mean 'max_trials'"),
    ({"stratgy": "random"}, "did you mean 'strategy'"),
    ({"strategy": "bayse"}, "unknown strategy 'bayse'"),
    ({"strategy": "nope"}, "choose one of"),
    ({"strategy": "grid"}, "grid search needs discrete parameters.*'x'"),
    ({"n_jobs": 0}, "n_jobs must be"),
    ({"max_trials": 0}, "max_trials must be"),
    ({"time_limit": -1}, "time_limit must be"),
    ({"pruner": "medain"}, "did you mean 'median'"),
    ({"metric": 3}, "metric must be"),
    ({"name": "../evil"}, "not a plain folder name"),
    ({"name": "/etc/x"}, "not a plain folder name"),
    ({"name": ".."}, "not a plain folder name"),
    ({"executor": object()}, "executor must be"),
])
def test_bad_options_are_refused_with_the_fix(store, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        hw.Scan(quadratic, SPACE, store=store, **kwargs)


def test_objective_signature_is_checked(store):
    with pytest.raises(TypeError, match="params"):
        hw.Scan(lambda: 1, SPACE, store=store)
    with pytest.raises(TypeError, match="must be a function"):
        hw.Scan(3, SPACE, store=store)


def test_objective_gets_the_trial_handle_and_reports_become_events(store):
    events = []

    def objective(params, trial):
        for step in range(4):
            trial.report(step, params["x"] + step)
        return params["x"]

    scan = hw.Scan(objective, SPACE, max_trials=3, store=store)
    scan.subscribe(lambda e: events.append((e.kind, e.trial.id if e.trial else None, e.step)))
    scan.start().wait(10)
    kinds = [k for k, _, _ in events]
    assert kinds.count("trial_started") == 3
    assert kinds.count("trial_reported") == 12
    assert kinds.count("trial_finished") == 3
    # events of one trial come in order: started, reports, finished
    first = [e for e in events if e[1] == 0]
    assert [k for k, _, _ in first] == ["trial_started"] + ["trial_reported"] * 4 + [
        "trial_finished"]
    assert scan.trials[0].curve == tuple((float(s), scan.trials[0].params["x"] + s)
                                         for s in range(4))


def test_a_listener_that_raises_is_detached_and_the_scan_goes_on(store, caplog):
    seen = []

    def bad(event):
        raise RuntimeError("widget exploded")

    scan = hw.Scan(quadratic, SPACE, max_trials=10, store=store)
    scan.subscribe(bad)
    scan.subscribe(lambda e: seen.append(e.kind))
    scan.start().wait(10)
    assert scan.status == "finished" and scan.n_done == 10
    assert seen.count("trial_finished") == 10
    assert "widget exploded" in caplog.text and "detached" in caplog.text


def test_trials_are_committed_before_listeners_hear(store):
    import sqlite3

    checked = []

    def listener(event):
        if event.kind == "trial_finished":
            db = sqlite3.connect(scan.path / "trials.sqlite")
            row = db.execute("SELECT status, value FROM trials WHERE id = ?",
                             (event.trial.id,)).fetchone()
            db.close()
            checked.append(row == ("finished", event.trial.value))

    scan = hw.Scan(quadratic, SPACE, max_trials=5, store=store)
    scan.subscribe(listener)
    scan.start().wait(10)
    assert checked == [True] * 5


def test_narrowing_the_space_while_running_applies_to_new_trials(store):
    gate = threading.Semaphore(0)

    def objective(params):
        gate.acquire(timeout=5)
        return params["x"]

    scan = hw.Scan(objective, {"x": (0.0, 1.0), "act": ["relu", "elu"]}, max_trials=40,
                   store=store, seed=3)
    scan.start()
    for _ in range(5):
        gate.release()
    _until(lambda: scan.n_done >= 5)
    scan.narrow(x=(0.9, 1.0), act=["elu"])
    n_before = max(t.id for t in scan.trials)   # this one was drawn before narrowing
    for _ in range(60):
        gate.release()
    scan.wait(10)
    later = [t for t in scan.trials if t.id > n_before]
    assert len(later) >= 30
    assert all(0.9 <= t.params["x"] <= 1.0 and t.params["act"] == "elu" for t in later)
    # replacing the whole space works too, but not with other parameters
    with pytest.raises(ValueError, match="same parameters"):
        scan.space = {"y": (0.0, 1.0)}


def test_n_jobs_runs_trials_in_parallel_threads(store):
    active, peak = [0], [0]
    lock = threading.Lock()

    def objective(params):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return params["x"]

    scan = hw.Scan(objective, SPACE, max_trials=12, n_jobs=4, store=store)
    scan.start().wait(10)
    assert peak[0] == 4
    assert scan.n_done == 12


def test_any_concurrent_futures_executor(store):
    # a plain Executor does not declare its slots: the scan learns them from when its
    # trials start (keeping one waiting), so a pool of 3 runs 3 at once, not more
    lock, now, peak = threading.Lock(), [0], [0]

    def objective(params):
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.05)
        with lock:
            now[0] -= 1
        return params["x"]

    with ThreadPoolExecutor(3) as ex:
        scan = hw.Scan(objective, SPACE, max_trials=12, executor=ex, store=store)
        scan.start().wait(20)
    assert scan.n_done == 12 and (scan.results.status == "finished").all()
    assert peak[0] == 3


def test_process_pool_executor(store):
    with ProcessPoolExecutor(2) as ex:
        scan = hw.Scan(_process_objective, SPACE, max_trials=4, executor=ex, store=store)
        scan.start().wait(60)
    df = scan.results
    assert (df.status == "finished").all(), df.error.tolist()
    workers = {t.worker.split(":")[1] for t in scan.trials}
    import os
    assert str(os.getpid()) not in workers
    assert all(len(t.curve) == 2 for t in scan.trials)   # reports came back with the result


def _process_objective(params, trial):
    trial.report(0, 1.0)
    trial.report(1, 0.5)
    return params["x"]


def test_seeded_scans_are_reproducible(tmp_path):
    a = hw.Scan(quadratic, SPACE, max_trials=8, seed=42, store=tmp_path / "a")
    b = hw.Scan(quadratic, SPACE, max_trials=8, seed=42, store=tmp_path / "b")
    a.start().wait(10)
    b.start().wait(10)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]


def test_kernel_thread_stays_free_while_a_scan_runs(store):
    def busy(params):
        x = 0.0
        for i in range(20000):
            x += i * 1e-9
        return params["x"] + x

    scan = hw.Scan(busy, SPACE, max_trials=None, time_limit=1.5, store=store)
    scan.start()
    lags = []
    for _ in range(20):
        t0 = time.perf_counter()
        np.linalg.norm(np.ones(10))
        lags.append(time.perf_counter() - t0)
        time.sleep(0.02)
    scan.stop(wait=True)
    assert max(lags) < 0.1


def _until(cond, timeout=10.0):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
