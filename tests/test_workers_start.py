"""How a worker process starts: from what the kernel already has, holding none of its files.

Each test runs a small "kernel" script in a fresh interpreter, as a notebook's kernel is:
what this pytest process has imported (TensorFlow, for the Keras tests) must not decide
how its workers start.
"""

from __future__ import annotations

import json
import subprocess
import sys

KERNEL = """
import json, os, socket, sys
sys.path.insert(0, sys.argv[2])
import already_here                     # the kernel's own imports (NumPy, scikit-learn, ...)
import hpo_widgets as hw
from hpo_widgets.workers import ProcessWorkers

listener = socket.socket()              # e.g. one of a Jupyter kernel's ports
listener.bind(("127.0.0.1", 0))
listener.listen()
port = listener.getsockname()[1]

def objective(params):
    import already_here
    return {"loss": params["x"], "imported_in": already_here.IMPORTED_IN, "pid": os.getpid()}

pool = ProcessWorkers(1, max_rss_growth_mb=None)
scan = hw.Scan(objective, {"x": [1.0, 2.0]}, metric="loss", strategy="grid", executor=pool,
               store=sys.argv[1])
scan.start().wait(120)
listener.close()                        # the kernel restarts: its ports must be free again
again = socket.socket()
try:
    again.bind(("127.0.0.1", port))
    again.listen()
    rebound = True
except OSError as e:
    rebound = str(e)
worker_pid = scan.trials[-1].metrics["pid"]
os.kill(int(worker_pid), 0)              # raises if the worker is gone
pool.shutdown()
print(json.dumps({"kernel": os.getpid(), "rebound": rebound,
                  "trials": [{"status": t.status, "error": t.error, **t.metrics}
                             for t in scan.trials]}))
"""


def _run_kernel(tmp_path, env=None):
    import os

    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "already_here.py").write_text(
        "import os\nIMPORTED_IN = os.getpid()   # the process that ran this import\n")
    script = tmp_path / "kernel.py"
    script.write_text(KERNEL)
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "s"),
                          str(tmp_path / "mods")], capture_output=True, text=True,
                         timeout=300, env={**os.environ, **(env or {})})
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_worker_starts_with_what_the_kernel_already_imported(tmp_path):
    out = _run_kernel(tmp_path)
    trials = out["trials"]
    assert [t["status"] for t in trials] == ["finished", "finished"], trials
    assert all(t["pid"] != out["kernel"] for t in trials)        # still another process
    # ...that did not import again what the kernel had imported (a fresh Python pays
    # 1-2 s for NumPy, scikit-learn and SciPy before the framework's own import)
    assert all(t["imported_in"] == out["kernel"] for t in trials), trials


def test_a_worker_holds_none_of_the_kernels_ports(tmp_path):
    out = _run_kernel(tmp_path)
    # the worker still ran when the kernel closed its port, and the port was free again
    assert out["rebound"] is True, out


def test_spawn_on_request_gives_a_fresh_python(tmp_path):
    out = _run_kernel(tmp_path, {"HPO_WIDGETS_WORKER_START": "spawn"})
    trials = out["trials"]
    assert [t["status"] for t in trials] == ["finished", "finished"], trials
    assert all(t["imported_in"] == t["pid"] for t in trials)     # imported it itself
    assert out["rebound"] is True


TF_KERNEL = """
import json, os, sys
import numpy as np
import keras                            # a notebook's first cell: its model function needs it
import hpo_widgets as hw
from hpo_widgets.workers import ProcessWorkers

def fit_one(units):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model.fit(np.ones((256, 4)), np.ones(256), epochs=2, batch_size=16, verbose=0)

def objective(params):
    return {"loss": float(fit_one(8).history["loss"][-1]), "pid": os.getpid(),
            "keras_imported_in": getattr(keras, "_imported_in", os.getpid())}

keras._imported_in = os.getpid()        # marks the kernel's copy of the module
out = {}
for when in ("imported", "trained"):
    if when == "trained":
        fit_one(4)                      # the kernel trained a model: TensorFlow's pools run
    scan = hw.Scan(objective, {"x": [1.0]}, metric="loss", strategy="grid",
                   executor=ProcessWorkers(1, max_rss_growth_mb=None), store=sys.argv[1],
                   name=when, trial_timeout=90)
    scan.start().wait(200)
    out[when] = [{"status": t.status, "error": t.error, **t.metrics} for t in scan.trials]
out["kernel"] = os.getpid()
print(json.dumps(out))
"""


def test_a_kernel_with_keras_hands_it_over_and_one_that_ran_it_still_gets_workers(tmp_path):
    """A kernel that has imported Keras (and not run it) gives its workers Keras already
    imported; once TensorFlow has run in the kernel (a process forked then hangs in its
    first ``fit``: its thread pools are not in the child), workers start as a fresh Python
    and still work."""
    import os

    script = tmp_path / "tf_kernel.py"
    script.write_text(TF_KERNEL)
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "s")],
                         capture_output=True, text=True, timeout=500,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    (imported,), (trained,) = out["imported"], out["trained"]
    assert imported["status"] == "finished", imported
    assert imported["keras_imported_in"] == out["kernel"]       # no second Keras import
    assert trained["status"] == "finished", trained                # no hang in fit
    assert trained["keras_imported_in"] == trained["pid"]         # its own, fresh Keras
