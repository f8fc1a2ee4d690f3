"""ProcessWorkers: trials in recycled worker processes, with live reports and pruning."""

from __future__ import annotations

import itertools
import os
import time

import pytest

import hpo_widgets as hw
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


def test_reports_stream_live_and_pruning_works_across_processes(store, pool,
                                                               prune_above_half):
    def objective(params, trial):
        for step in range(5):
            trial.report(step, params["x"])
            if trial.should_prune():
                return params["x"]
            time.sleep(0.01)
        return params["x"]

    events = []
    scan = hw.Scan(objective, SPACE, max_trials=10, executor=pool, store=store,
                   pruner=prune_above_half, seed=3)
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


# -- start-up paid once: warm spares and early successors ------------------------------------
@pytest.fixture
def slow_import(tmp_path, monkeypatch):
    """A module that takes 2 s to import (standing in for Keras/TensorFlow), on the path
    the workers inherit."""
    (tmp_path / "slow_framework.py").write_text(
        "import os, time\ntime.sleep(float(os.environ.get('SLOW_IMPORT_S', '2')))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from hpo_widgets import workers

    workers.release()   # spares left by earlier tests (e.g. Keras ones) are not ours
    yield "slow_framework"
    workers.release()


def _gaps(scan):
    """Seconds between one trial's end and the next one's start, in order."""
    ts = sorted(scan.trials, key=lambda t: t.started)
    return [b.started - a.finished for a, b in itertools.pairwise(ts)]


def test_workers_stay_warm_between_pools_and_forget_old_objectives(store, slow_import):
    from hpo_widgets import workers

    def first(params):
        return {"loss": 1.0, "pid": os.getpid()}

    def second(params):
        return {"loss": 2.0, "pid": os.getpid()}

    with ProcessWorkers(1, preload=[slow_import]) as pool:
        scan = hw.Scan(first, SPACE, metric="loss", max_trials=2, executor=pool, store=store,
                       name="a")
        scan.start()
        assert scan.wait(60)
        pid = int(scan.results.pid.iloc[0])
    assert workers.spares() == 1                     # handed back, still alive

    t0 = time.time()
    with ProcessWorkers(1, preload=[slow_import]) as pool2:
        scan2 = hw.Scan(second, SPACE, metric="loss", max_trials=2, executor=pool2,
                        store=store, name="b")
        scan2.start()
        assert scan2.wait(60)
        assert pool2.adopted == 1
    df = scan2.results
    # the same process, running the new objective (not the old one it had cached), and
    # no 2 s import before the first trial
    assert set(df.pid.astype(int)) == {pid} and (df.loss == 2.0).all()
    assert min(t.started for t in scan2.trials) - t0 < 1.5
    assert workers.release() == 1 and workers.spares() == 0
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                              # released = the process is gone


def test_warm_up_starts_ahead_and_idle_spares_leave(slow_import):
    from hpo_widgets import workers

    assert workers.warm_up(1, preload=[slow_import], keep_s=3.0) == 1
    assert workers.warm_up(1, preload=[slow_import], keep_s=3.0) == 0   # one is waiting
    assert workers.spares() == 1
    deadline = time.time() + 15
    while workers.spares() and time.time() < deadline:
        time.sleep(0.2)
    assert workers.spares() == 0                     # gone after its keep-warm time
    assert workers.warm_up(1, preload=[slow_import], keep_s=0) == 0     # 0 turns it off


def test_a_growing_workers_successor_starts_early_so_trials_do_not_wait(store, slow_import):
    def leaky(params):
        import sys

        time.sleep(0.3)
        hoard = sys.modules.setdefault("_hoard", type(sys)("_hoard"))
        hoard.__dict__.setdefault("blocks", []).append(bytearray(10 * 2**20))
        for b in hoard.blocks:
            b[::4096] = b"x" * len(b[::4096])
        return params["x"]

    # 10 MB a trial, limit 100 MB: a successor starts at +50 MB, five trials (1.5 s) before
    # its elder must go; its 1 s import fits in that
    with ProcessWorkers(1, max_rss_growth_mb=100, preload=[slow_import],
                        env={"SLOW_IMPORT_S": "1"}, keep_warm=0) as pool:
        scan = hw.Scan(leaky, SPACE, max_trials=24, executor=pool, store=store)
        scan.start()
        assert scan.wait(180)
        assert scan.counts["finished"] == 24
        assert pool.recycled >= 2
    # every replacement imported its slow module while its elder still ran trials
    assert max(_gaps(scan)) < 1.0, _gaps(scan)


# -- a trial's output stays with the trial ----------------------------------------------------
OUTPUT_CHILD = """
import json, os, sys
import hpo_widgets as hw
from hpo_widgets.workers import ProcessWorkers

def noisy(params):
    print("python print", params["x"])
    os.write(1, b"x" * 10_000_000)                 # 10 MB straight to file descriptor 1
    os.write(2, b"\\nC++ log line on fd 2\\n")       # what TensorFlow's C++ logging does
    print("last words")
    if params["x"] > 0.5:
        raise ValueError("boom")
    if params["x"] == 0.5:
        return params["x"]                          # a plain number keeps its output too
    return {"loss": params["x"]}

scan = hw.Scan(noisy, {"x": [0.25, 0.5, 0.75]}, metric="loss", strategy="grid",
               executor=ProcessWorkers(1, max_rss_growth_mb=None), store=sys.argv[1])
scan.start().wait(120)
trials = sorted(scan.trials, key=lambda t: t.params["x"])
with open(sys.argv[2], "w") as f:
    json.dump([{"status": t.status, "stdout": t.metrics.get("stdout"),
                "traceback": t.traceback} for t in trials], f)
"""


def test_output_to_file_descriptors_stays_with_the_trial_not_the_notebook(tmp_path):
    import json
    import subprocess
    import sys

    script = tmp_path / "noisy.py"
    script.write_text(OUTPUT_CHILD)
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "s"),
                          str(tmp_path / "out.json")], capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    # nothing reached the kernel's own stdout/stderr (a notebook would show it)
    assert len(run.stdout) < 1000 and b"C++ log line" not in run.stderr, run.stderr[-500:]
    assert len(run.stderr) < 5000
    ok, plain, failed = json.loads((tmp_path / "out.json").read_text())
    for done in (ok, plain):
        assert done["status"] == "finished" and len(done["stdout"]) == 4000  # the last 4,000
        assert done["stdout"].endswith("x\nC++ log line on fd 2\nlast words\n")
    assert failed["status"] == "failed" and "ValueError: boom" in failed["traceback"]
    assert failed["traceback"].rstrip().endswith("C++ log line on fd 2\nlast words")
    assert "printed by the trial" in failed["traceback"]


def test_a_pool_says_it_is_starting_until_a_worker_is_ready(slow_import):
    p = ProcessWorkers(1, preload=[slow_import], keep_warm=0)
    try:
        assert p.note() == f"starting a worker and importing {slow_import}…"
        deadline = time.time() + 60
        while p.note() is not None and time.time() < deadline:
            time.sleep(0.1)
        assert p.note() is None
        assert p.submit(lambda: 7).result(30) == 7
        assert p.note() is None
    finally:
        p.shutdown()
