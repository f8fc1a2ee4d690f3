"""ProcessWorkers: trials in recycled worker processes, with live reports and pruning."""

from __future__ import annotations

import os
import time

import pytest

import hpo_widgets as hw
from hpo_widgets.pruning import Pruner
from hpo_widgets.workers import ProcessWorkers

SPACE = {"x": (0.0, 1.0)}


@pytest.fixture
def pool():
    p = ProcessWorkers(2, max_rss_growth_mb=None)
    yield p
    p.shutdown()


def test_trials_run_in_other_processes_and_closures_travel_by_value(store, pool):
    offset = 0.25   # a closure over a local: plain pickle (and spawn) could not send this

    def objective(params, trial):
        trial.report(0, params["x"])
        return {"loss": (params["x"] - offset) ** 2, "pid": os.getpid()}

    scan = hw.Scan(objective, SPACE, metric="loss", max_trials=8, executor=pool, store=store)
    scan.start()
    assert scan.wait(60)
    df = scan.results
    assert (df.status == "finished").all(), df.error.tolist()
    pids = set(df.pid.astype(int))
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert pool.started == 2                    # workers are reused, not one per trial


def test_reports_stream_live_and_pruning_works_across_processes(store, pool):
    class PruneHigh(Pruner):
        def __init__(self):
            super().__init__()
            self.last = {}

        def report(self, trial_id, step, value):
            self.last[trial_id] = value

        def should_prune(self, trial_id):
            return self.last.get(trial_id, 0) > 0.5

    def objective(params, trial):
        for step in range(5):
            trial.report(step, params["x"])
            if trial.should_prune():
                return params["x"]
            time.sleep(0.01)
        return params["x"]

    events = []
    scan = hw.Scan(objective, SPACE, max_trials=10, executor=pool, store=store,
                   pruner=PruneHigh(), seed=3)
    scan.subscribe(lambda e: events.append((e.kind, e.trial.id if e.trial else None)))
    scan.start()
    assert scan.wait(60)
    for t in scan.trials:
        kinds = [k for k, i in events if i == t.id]
        assert kinds[0] == "trial_started" and kinds[-1] == "trial_finished"
        assert "trial_reported" in kinds[1:-1]           # arrived while it ran
        if t.params["x"] > 0.5:
            assert t.status == "pruned" and len(t.curve) == 1
        else:
            assert t.status == "finished" and len(t.curve) == 5


def test_a_worker_that_grows_is_replaced_and_nothing_is_lost(store):
    def leaky(params):
        import sys

        hoard = sys.modules.setdefault("_hoard", type(sys)("_hoard"))
        hoard.__dict__.setdefault("blocks", []).append(bytearray(40 * 2**20))
        for b in hoard.blocks:
            b[::4096] = b"x" * len(b[::4096])   # touch the pages: real RSS
        return params["x"]

    with ProcessWorkers(1, max_rss_growth_mb=100) as pool:
        scan = hw.Scan(leaky, SPACE, max_trials=8, executor=pool, store=store)
        scan.start()
        assert scan.wait(120)
        assert scan.counts["finished"] == 8
        assert pool.recycled >= 2 and pool.started >= 3


def test_a_dying_worker_fails_its_trial_and_the_scan_goes_on(store, pool):
    def sometimes_dies(params):
        if params["x"] > 0.7:
            os._exit(3)
        return params["x"]

    scan = hw.Scan(sometimes_dies, SPACE, max_trials=10, executor=pool, store=store, seed=0)
    scan.start()
    assert scan.wait(120)
    df = scan.results
    assert len(df) == 10
    died = df[df.status == "failed"]
    assert len(died) >= 1 and died.error.str.contains("exited with code 3").all()
    assert (df[df.status == "finished"].x <= 0.7).all()


def test_a_hung_trial_is_killed_with_its_process(store, pool):
    def hangs(params):
        if params["x"] > 0.6:
            time.sleep(3600)
        return params["x"]

    scan = hw.Scan(hangs, SPACE, max_trials=6, executor=pool, store=store, seed=2,
                   trial_timeout=1.0)
    scan.start()
    assert scan.wait(120)
    df = scan.results
    assert len(df) == 6 and (df[df.status == "failed"].error.str.contains("trial_timeout")).all()
    assert (df.status == "failed").any()


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        ProcessWorkers(0)
    with pytest.raises(ValueError, match="max_tasks"):
        ProcessWorkers(1, max_tasks=0)
