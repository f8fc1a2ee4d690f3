"""Scale-out: a scan whose trials run on a real Dask LocalCluster."""

from __future__ import annotations

import os

import pytest

import hpo_widgets as hw

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def objective(params, trial):
    trial.report(0, params["x"] * 2)
    if params["x"] > 0.95:
        raise ValueError("unlucky draw")
    return {"loss": (params["x"] - 0.3) ** 2, "pid": os.getpid()}


def test_trials_run_on_the_cluster_and_the_driver_stays_here(client, store):
    scan = hw.Scan(objective, {"x": (0.0, 1.0), "k": [1, 2]}, metric="loss", max_trials=16,
                   executor=client, store=store, seed=5)
    assert scan.n_jobs == 2     # one trial per worker thread by default
    scan.start()
    assert scan.wait(120)
    df = scan.results
    assert scan.status == "finished" and len(df) == 16
    pids = set(df.pid.dropna().astype(int))
    assert os.getpid() not in pids and len(pids) == 2    # both workers ran trials
    assert all(t.curve for t in scan.trials)             # reports travel back
    failed = df[df.status == "failed"]
    assert (failed.error.str.contains("unlucky")).all()
    assert scan.best.value == df.loss.min()


def test_stop_on_the_cluster_records_in_flight_trials(client, store):
    import time

    def slow(params):
        time.sleep(0.2)
        return params["x"]

    scan = hw.Scan(slow, {"x": (0.0, 1.0)}, max_trials=200, executor=client, store=store,
                   name="slow")
    scan.start()
    t0 = time.time()
    while scan.n_done < 3 and time.time() - t0 < 60:
        time.sleep(0.05)
    scan.stop()
    assert scan.wait(60)
    assert scan.counts["running"] == 0 and scan.n_done < 200
    assert (scan.results.status == "finished").all()


def test_reports_arrive_live_and_the_pruner_stops_trials_on_the_cluster(client, store,
                                                                      prune_above_half):
    import time

    def stepwise(params, trial):
        for step in range(20):
            trial.report(step, params["x"])
            if trial.should_prune():
                return params["x"]
            time.sleep(0.05)
        return params["x"]

    events = []
    scan = hw.Scan(stepwise, {"x": (0.0, 1.0)}, max_trials=8, executor=client, store=store,
                   pruner=prune_above_half, seed=1, name="live")
    scan.subscribe(lambda e: events.append((e.kind, e.trial.id if e.trial else None)))
    scan.start()
    assert scan.wait(120)
    for t in scan.trials:
        kinds = [k for k, i in events if i == t.id]
        assert kinds[0] == "trial_started" and kinds[-1] == "trial_finished", kinds
        assert "trial_reported" in kinds[1:-1]          # heard while the trial ran
        if t.params["x"] > 0.5:
            # told at its next check (a report's round trip may take a step or two)
            assert t.status == "pruned" and len(t.curve) < 20, (t.params, len(t.curve))
        else:
            assert t.status == "finished" and len(t.curve) == 20
    assert {t.status for t in scan.trials} == {"pruned", "finished"}
