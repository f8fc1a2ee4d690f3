"""Is ``model.fit`` slower in our worker than in a plain loop, and why? Side by side, paired.

``bench/keras_memory.py`` runs its variants one after the other, so on a shared machine
the load moves between them. Here every variant trains the same configuration in the same
round, one at a time, in an order that rotates every round, and each is compared with the
loop *in the same round* (median of the per-round ratios):

``loop``      a plain Python process that imported Keras and trains in its main thread
              (a subprocess of this script, the user's kernel in ``keras_memory.py``)
``worker``    the same training function, run in our worker process (``ProcessWorkers``,
              forked from this process, which never runs TensorFlow)
``keras``     ``KerasScan``'s own trial (per-epoch reporter callback, seeding, data read
              from the scan's folder, scores after training) in that same worker
``spawn``     the plain training function in a worker started as a fresh Python
              (``HPO_WIDGETS_WORKER_START=spawn``)

A suspected cause is switched on in a variant of its own by ``+name`` (its own process):
``+malloc`` / ``+trim`` (glibc: no heap trimming, no mmap for big blocks), ``+unfreeze``
(the worker's ``gc.freeze`` undone), ``+freeze`` (the loop frozen as the worker is),
``+depthN`` (``fit`` called N frames deeper), ``+roomy`` (``fit`` called inside a frame
with room on CPython's frame stack, as the worker now runs its trials).

For each: median ``model.fit`` seconds and its ratio to the loop's (paired by round), the
CPU seconds the process used during ``fit`` (all threads) and that ratio, system time,
garbage collections, minor page faults, context switches; then each process's threads
(by name, and the CPU each kind used), gc state, niceness and CPU affinity.

What it found (2-core machine, load 2-4 from other work, 8-16 rounds): before the fix the
forked worker used 3-7% more CPU per ``fit`` than the loop, with 9,000-10,000 minor page
faults against the loop's 6,400-7,500; nearly all the difference was CPython 3.11 mapping
and unmapping 16 KiB chunks of its frame stack (``_PyThreadState_BumpFramePointerSlow``,
``perf record -e page-faults``) as Keras's calls crossed a chunk boundary at every step.
``+depthN`` moved the loop's faults between 7,300 and 9,700; ``+roomy`` cut them to 3,100
and the CPU by 7%. Nothing else mattered: the main thread does ~97% of the CPU in both
(TensorFlow's pools ~0.04 s a fit), 22 collections a fit in both (~5 ms), same niceness
and affinity; ``+malloc``/``+trim`` left faults and CPU unchanged, ``+unfreeze`` and
``+freeze`` within noise. With the fix (16 rounds): worker 0.93x the loop's ``fit`` wall
time (CPU 0.95x), KerasScan's trial 0.96x.

Run::

    python bench/keras_fit_gap.py --rounds 12 --epochs 6
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = ("loop", "worker", "keras", "spawn")

_DATA: list = []


def fit_once(params: dict) -> dict:
    """Build and train one model the plain way; what it cost this process."""
    from keras_memory import build, load_data

    if not _DATA:
        _DATA.append(load_data())
    (xtr, ytr), (xva, yva), _ = _DATA[0]
    import collections
    import gc

    _apply(params.get("_opts", []))
    model = build(params)
    gc_s = [0.0, 0, 0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_s[2] = time.perf_counter()
        else:
            gc_s[0] += time.perf_counter() - gc_s[2]
            gc_s[1] += 1

    gc.callbacks.append(on_gc)
    c0 = _thread_cpu()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    def fit() -> None:
        model.fit(xtr, ytr, validation_data=(xva, yva), epochs=int(params["epochs"]),
                  batch_size=int(params["batch_size"]), verbose=0)

    opts = params.get("_opts", [])
    depth = next((int(o[5:]) for o in opts if o.startswith("depth")), 0)
    try:
        if "roomy" in opts:
            _roomy(_deeper, depth, fit)
        else:
            _deeper(depth, fit)
    finally:
        fit_s = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        gc.callbacks.remove(on_gc)
        c1 = _thread_cpu()
    main = threading.get_native_id()
    by_name: dict[str, float] = collections.defaultdict(float)
    for tid, (name, ticks) in c1.items():
        key = "main" if tid == main else name
        by_name[key] += (ticks - c0.get(tid, (name, 0))[1]) / os.sysconf("SC_CLK_TCK")
    names = collections.Counter(
        Path(f"/proc/self/task/{t}/comm").read_text().strip()
        for t in os.listdir("/proc/self/task"))
    return {"fit_seconds": fit_s,
            "cpu_s": r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime,
            "sys_s": r1.ru_stime - r0.ru_stime,
            "threads": dict(names), "thread_cpu": dict(by_name), "gc_s": gc_s[0], "gcs": gc_s[1],
            "gc_frozen": gc.get_freeze_count(), "gc_threshold": gc.get_threshold(),
            "minflt": r1.ru_minflt - r0.ru_minflt,
            "nice": os.nice(0), "affinity": sorted(os.sched_getaffinity(0)),
            "vcsw": r1.ru_nvcsw - r0.ru_nvcsw, "ivcsw": r1.ru_nivcsw - r0.ru_nivcsw}


class _Handle:
    """What the pool needs of a scan's trial: an id (the trial's seed), a sink for its
    per-epoch reports and a pruner that never prunes."""

    _ids = iter(range(1, 10**9))

    def __init__(self) -> None:
        self.id = next(self._ids)
        self.curve: list = []

    def report(self, step: float, value: float) -> None:
        self.curve.append((step, value))

    def should_prune(self) -> bool:
        return False


def _deeper(n: int, fn: Any) -> None:
    """``fn()`` called ``n`` Python frames deeper than here."""
    if n > 0:
        return _deeper(n - 1, fn)
    return fn()


def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)


# the same function with room for ~70,000 more values on its frame: calling it makes
# CPython (3.11+) start a fresh 1 MiB chunk of its frame stack, of which the calls below
# use the ~470 KiB this frame does not
_roomy = type(_call)(_call.__code__.replace(co_stacksize=_call.__code__.co_stacksize + 70000),
                     globals())

_APPLIED: set = set()


def _apply(opts: list[str]) -> None:
    """Switch this process's suspected causes off (or on), once each."""
    import ctypes
    import gc

    for opt in opts:
        if opt in _APPLIED:
            continue
        _APPLIED.add(opt)
        if opt == "malloc":   # no trimming of the heap, no mmap for big blocks
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-1, 1 << 30)     # M_TRIM_THRESHOLD
            libc.mallopt(-3, 1 << 25)     # M_MMAP_THRESHOLD (its maximum on 64-bit)
        elif opt == "trim":
            ctypes.CDLL("libc.so.6").mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD
        elif opt == "unfreeze":
            gc.unfreeze()
        elif opt == "freeze":
            gc.freeze()
        elif opt.startswith("depth") or opt == "roomy":
            pass
        else:
            raise ValueError(f"unknown option {opt!r}")


def _fit_as_text(params: dict) -> dict:
    """fit_once's costs as one text value (a worker's results are numbers or text)."""
    return {"all": json.dumps(fit_once(params))}


def _thread_cpu() -> dict[int, tuple[str, int]]:
    """CPU ticks (user + system) of each thread of this process, by thread id."""
    out = {}
    for t in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{t}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(t)] = (name, int(fields[11]) + int(fields[12]))
    return out


def serve() -> None:
    """The loop: read one configuration a line, train it, answer with its costs."""
    import keras  # noqa: F401 - imported before the first trial, as in a user's kernel

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(json.dumps(fit_once(json.loads(line))), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve()
        return
    from keras_memory import UNITS, build, load_data, sampled_params

    import hpo_widgets as hw
    from hpo_widgets.workers import ProcessWorkers

    names = args.variants.split(",")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs: dict[str, Any] = {}   # one process (a loop) or one pool (a worker) per variant
    keras_trial = None
    for v in names:
        base = v.split("+")[0]
        if base == "loop":
            procs[v] = subprocess.Popen([sys.executable, __file__, "--serve"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env)
            json.loads(procs[v].stdout.readline())
        elif base in ("worker", "keras", "spawn"):
            if base == "spawn":
                os.environ["HPO_WIDGETS_WORKER_START"] = "spawn"
            procs[v] = ProcessWorkers(1, preload=["keras", "+sklearn.metrics"], keep_warm=0)
            os.environ.pop("HPO_WIDGETS_WORKER_START", None)
        else:
            raise SystemExit(f"unknown variant {v!r}")
        if base == "keras" and keras_trial is None:
            (xtr, ytr), (xva, yva), (xte, yte) = load_data()
            scan = hw.KerasScan(build, {"units": UNITS, "lr": (1e-4, 1e-2, "log")}, xtr, ytr,
                                validation_data=(xva, yva), test_data=(xte, yte),
                                metric="val_accuracy", max_trials=1, seed=0, workers=0,
                                store=tempfile.mkdtemp(prefix="fitgap-"), name="gap")
            keras_trial = scan._keras_trial
            keras_trial.in_process = False

    def run(variant: str, params: dict) -> dict:
        base, *opts = variant.split("+")
        params = {**params, "_opts": opts}
        if base == "loop":
            procs[variant].stdin.write(json.dumps(params) + "\n")
            procs[variant].stdin.flush()
            return json.loads(procs[variant].stdout.readline())
        pool = procs[variant]
        if base == "keras":
            out = pool.submit_trial(keras_trial, params, _Handle(), True).result()
        else:
            out = pool.submit_trial(_fit_as_text, params, None, False).result()
        if out.get("error"):
            raise RuntimeError(out["traceback"] or out["error"])
        res = out["result"]
        return json.loads(res["all"]) if "all" in res else res

    warm = {"units": 16, "lr": 1e-3, "epochs": 1, "batch_size": args.batch_size}
    for v in names:   # first-use costs out of the way
        run(v, warm)
    if os.environ.get("FITGAP_PIDS"):   # for attaching a profiler to each variant's process
        pids = {v: (p.pid if isinstance(p, subprocess.Popen) else p._workers[0].proc.pid)
                for v, p in procs.items()}
        Path(os.environ["FITGAP_PIDS"]).write_text(json.dumps(pids))
        time.sleep(3)
    rows: dict[str, list[dict]] = {v: [] for v in names}
    configs = sampled_params(args.rounds)
    load0 = os.getloadavg()[0]
    for r, p in enumerate(configs):
        params = {**p, "epochs": args.epochs, "batch_size": args.batch_size}
        order = names[r % len(names):] + names[:r % len(names)]
        for v in order:
            rows[v].append(run(v, params))
        print(f"round {r}: " + ", ".join(
            f"{v} {rows[v][-1]['fit_seconds']:.2f} (threads "
            f"{sum(rows[v][-1].get('threads', {}).values())}, cpu "
            + " ".join(f"{k}={c:.2f}" for k, c in rows[v][-1].get("thread_cpu", {}).items()
                       if c) + ")" for v in names), flush=True)
    for proc in procs.values():
        if isinstance(proc, subprocess.Popen):
            proc.stdin.close()
            proc.wait(10)
        else:
            proc.shutdown()
    base = [x["fit_seconds"] for x in rows[names[0]]]
    print(f"\n{args.rounds} rounds x {args.epochs} epochs, interleaved; load "
          f"{load0:.1f}->{os.getloadavg()[0]:.1f}\n")
    print(f"variant | median fit s | median ratio to {names[0]} (paired) | sum ratio | "
          "median CPU s in fit | CPU ratio (paired) | sys s | gc s (count) | minor faults | "
          "vcsw | ivcsw")
    print("---|---|---|---|---|---|---|---|---|---|---")
    base_cpu = [x.get("cpu_s") for x in rows[names[0]]]
    for v in names:
        fit = [x["fit_seconds"] for x in rows[v]]
        paired = statistics.median(a / b for a, b in zip(fit, base, strict=True))
        pairs = [(x.get("cpu_s"), b) for x, b in zip(rows[v], base_cpu, strict=True)]
        cpu_paired = statistics.median(a / b for a, b in pairs if a and b) \
            if any(a and b for a, b in pairs) else float("nan")

        def med(key: str, xs: list[dict] = rows[v]) -> float:
            got = [x[key] for x in xs if key in x]
            return statistics.median(got) if got else float("nan")

        print(f"{v} | {statistics.median(fit):.3f} | {paired:.3f} | {sum(fit) / sum(base):.3f}"
              f" | {med('cpu_s'):.3f} | {cpu_paired:.3f} | {med('sys_s'):.3f} | {med('gc_s'):.3f} "
              f"({med('gcs'):.0f}) | {med('minflt'):.0f} | {med('vcsw'):.0f} | "
              f"{med('ivcsw'):.0f}")
    for v in names:
        last = rows[v][-1]
        print(f"  {v}: " + ", ".join(f"{k}={last[k]}" for k in
                                      ("threads", "thread_cpu", "gc_frozen", "gc_threshold", "nice",
                                       "affinity") if k in last))


if __name__ == "__main__":
    main()
