"""Control goes through the driver: one lock for commands and the end of a scan; counts
rebuilt from the trials; a stopped scan says "stopped"."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import hpo_widgets as hw

SPACE = {"x": (0.0, 1.0)}


def _until(cond, timeout=10.0):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_pause_racing_the_end_of_a_scan_leaves_no_ghost_state(store, monkeypatch):
    go = threading.Event()

    def objective(params):
        go.wait(10)
        return params["x"]

    scan = hw.Scan(objective, SPACE, max_trials=1, store=store)
    real = type(scan)._set_status

    def slow_pause(self, status, *args, **kwargs):
        if status == "paused":
            go.set()           # the last trial ends now, while this pause is half done
            time.sleep(0.05)   # the injected delay between the check and the write
        return real(self, status, *args, **kwargs)

    monkeypatch.setattr(type(scan), "_set_status", slow_pause)
    scan.start()
    _until(lambda: scan.counts["running"] == 1)
    scan.pause()
    assert scan.wait(10)
    time.sleep(0.1)
    assert scan.status == "finished", scan.status     # not "paused" with no driver
    scan.resume()                  # a finished scan at its limit: starts and ends at once
    assert scan.wait(10)
    time.sleep(0.1)
    assert scan.status == "finished" and scan.counts["running"] == 0


def test_commands_racing_the_end_never_leave_a_status_without_a_driver(store):
    # many short scans, each hit by pause/resume/stop right as it ends
    for i in range(20):
        scan = hw.Scan(lambda p: p["x"], SPACE, max_trials=3, store=store, name=f"r{i}")
        scan.start()
        for cmd in (scan.pause, scan.resume, scan.stop, scan.resume):
            cmd()
        assert scan.wait(10)
        time.sleep(0.02)
        assert scan.status in ("finished", "stopped"), (i, scan.status)
        assert scan.counts["running"] == 0


def test_a_stopped_scan_says_stopped_everywhere(store):
    gate = threading.Event()

    def slow(params):
        gate.wait(10)
        return params["x"]

    scan = hw.Scan(slow, SPACE, max_trials=50, store=store, name="halt")
    scan.start()
    _until(lambda: scan.counts["running"] == 1)
    scan.stop()
    assert scan.status == "stopping"
    gate.set()
    assert scan.wait(10)
    assert scan.status == "stopped" and scan.n_done == 1
    assert hw.load(store / "halt").status == "stopped"
    assert hw.scans(store).set_index("name").loc["halt", "status"] == "stopped"


DISK_FULL = textwrap.dedent("""
    import json, resource, signal, sys
    import hpo_widgets as hw

    def objective(params):
        # a big traceback-free result: each trial adds ~200 kB to the database
        return {"loss": params["x"], "notes": "x" * 200_000}

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a full disk: writes fail with EFBIG
    scan = hw.Scan(objective, {"x": (0.0, 1.0)}, metric="loss", max_trials=100,
                   name="full", store=sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_500_000, 1_500_000))
    scan.start().wait(60)
    print(json.dumps({"status": scan.status, "message": scan.message,
                      "counts": scan.counts}))
""")


def test_a_disk_full_failure_ends_the_scan_with_no_trial_left_running(store, tmp_path):
    script = tmp_path / "full.py"
    script.write_text(DISK_FULL)
    out = subprocess.run([sys.executable, str(script), str(store)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == "failed", got
    assert got["counts"]["running"] == 0, got
    assert got["counts"]["finished"] >= 1
