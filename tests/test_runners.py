"""The runner protocol: what each executor can do is declared, not guessed."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

import pytest

import hpo_widgets as hw

SPACE = {"x": (0.0, 1.0)}


def _stepwise(params, trial):
    for step in range(5):
        trial.report(step, params["x"])
        if trial.should_prune():
            return params["x"]
    return params["x"]


def test_a_pruner_on_a_process_pool_is_refused_naming_executors_that_can(store):
    with ProcessPoolExecutor(2) as ex, pytest.raises(ValueError, match="pruner='asha'") as e:
        hw.Scan(_stepwise, SPACE, pruner="asha", executor=ex, store=store)
    msg = str(e.value)
    assert "ProcessPoolExecutor" in msg and "ProcessWorkers" in msg and "dask" in msg


def test_a_pruner_on_kernel_threads_or_a_thread_pool_is_accepted(store):
    hw.Scan(_stepwise, SPACE, pruner="median", n_jobs=2, store=store, name="a")
    with ThreadPoolExecutor(2) as ex:
        hw.Scan(_stepwise, SPACE, pruner="median", executor=ex, store=store, name="b")


def test_a_hung_trial_on_one_thread_fails_alone_and_queued_ones_still_run(store):
    release = threading.Event()

    def objective(params):
        if not release.is_set() and params["x"] >= 0:   # the first trial hangs a while
            release.set()
            time.sleep(1.5)
        return params["x"]

    with ThreadPoolExecutor(1) as ex:
        scan = hw.Scan(objective, SPACE, max_trials=5, executor=ex, trial_timeout=0.3,
                       store=store, seed=0)
        scan.start()
        assert scan.wait(30)
    df = scan.results
    assert len(df) == 5
    assert df.status.tolist() == ["failed", "finished", "finished", "finished", "finished"]
    assert "trial_timeout" in df.error.iloc[0] and "cannot stop" in df.error.iloc[0]


class _Wrapped(Executor):
    """An executor that says nothing about its size (no ``_max_workers``)."""

    def __init__(self, n):
        self._pool = ThreadPoolExecutor(n)

    def submit(self, fn, /, *args, **kwargs):
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, **kw):
        self._pool.shutdown(wait)


def test_slots_of_an_executor_are_learnt_not_read_from_private_fields(store):
    lock, now, peak = threading.Lock(), [0], [0]

    def objective(params):
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.1)
        with lock:
            now[0] -= 1
        return params["x"]

    ex = _Wrapped(3)
    try:
        scan = hw.Scan(objective, SPACE, max_trials=12, executor=ex, store=store)
        scan.start().wait(30)
    finally:
        ex.shutdown()
    assert scan.n_done == 12 and peak[0] == 3


def test_the_dashboard_can_name_a_runner_that_holds_a_hung_trial(store):
    release = threading.Event()

    def objective(params):
        release.wait(10)
        return params["x"]

    with ThreadPoolExecutor(1) as ex:
        scan = hw.Scan(objective, SPACE, max_trials=3, executor=ex, trial_timeout=0.2,
                       store=store)
        assert scan.runner_note is None
        scan.start()
        deadline = time.time() + 10
        while scan.runner_note is None and time.time() < deadline:
            time.sleep(0.02)
        assert "cannot stop" in scan.runner_note
        release.set()
        scan.stop()
        assert scan.wait(10)
    assert scan.counts["running"] == 0


def test_a_trial_still_queued_when_the_scan_stops_is_interrupted_not_failed(store):
    release = threading.Event()

    def objective(params):
        release.wait(10)
        return params["x"]

    with ThreadPoolExecutor(1) as ex:
        scan = hw.Scan(objective, SPACE, max_trials=10, executor=ex, store=store)
        scan.start()
        deadline = time.time() + 10
        while len(scan.trials) < 2 and time.time() < deadline:   # one runs, one waits
            time.sleep(0.01)
        scan.stop()
        deadline = time.time() + 10
        while scan.counts["interrupted"] < 1 and time.time() < deadline:
            time.sleep(0.01)
        release.set()
        assert scan.wait(10)
    c = scan.counts
    assert scan.status == "stopped"
    assert (c["finished"], c["interrupted"], c["failed"]) == (1, 1, 0)
    queued = [t for t in scan.trials if t.status == "interrupted"][0]
    assert "before this trial started" in queued.error
