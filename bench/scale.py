"""Scale: a scan of 100,000 (and 1,000,000) trials, side by side with Optuna, one run.

Ours (durable SQLite store) and Optuna (in-memory study, RandomSampler) each live in their
own process and run their trials *interleaved*, in ``--chunks`` rounds of ``n / chunks``
trials each, alternating; on a shared machine whose load changes by the minute, that keeps
the comparison fair. Reported:

- ms per trial of a no-op objective, over all rounds, and flatness (ms per trial of the
  last round / the first);
- kernel memory: RSS growth per trial once all trials are in (ours: the live Scan);
- live results: ``scan.results`` of the live scan vs ``study.trials_dataframe()``;
- reopen + results: a fresh process's ``hw.load(path).results`` vs the same
  ``trials_dataframe()`` (the issue's yardstick: at most 0.5x); frames and reopens are
  taken three times, interleaved, and the medians reported, in wall time and in CPU time
  (all the process's threads: less swayed by other load on a shared machine);
- with ``--dashboard``: building ``hpo_widgets.widgets.Dashboard`` of the reopened scan.

    python bench/scale.py                                   # 100,000 trials
    python bench/scale.py --n 1000000 --no-optuna --dashboard
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def objective(params):
    return params["lr"] * params["units"] + (params["act"] == "relu") + params["bn"]


class Ours:
    def __init__(self, root: str) -> None:
        import hpo_widgets as hw

        self.space = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True),
                              units=hw.Int(16, 512, log=True),
                              act=hw.Choice(["relu", "elu", "gelu"]), bn=hw.Bool())
        self.scan = hw.Scan(objective, self.space, max_trials=1, seed=0, store=root,
                            name="big")
        self.done = 0

    def run(self, k: int) -> None:
        self.done += k
        self.scan.max_trials = self.done
        self.scan.start().wait()
        assert self.scan.counts["finished"] == self.done

    def frame(self) -> int:
        return len(self.scan.results)

    def close(self) -> dict:
        db = Path(self.scan.path) / "trials.sqlite"
        self.scan.close()
        return {"disk_bytes_per_trial": db.stat().st_size / self.done}


class Optuna:
    def __init__(self, root: str) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    @staticmethod
    def _obj(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        units = trial.suggest_int("units", 16, 512, log=True)
        act = trial.suggest_categorical("act", ["relu", "elu", "gelu"])
        bn = trial.suggest_categorical("bn", [False, True])
        return lr * units + (act == "relu") + bn

    def run(self, k: int) -> None:
        self.study.optimize(self._obj, n_trials=k)

    def frame(self) -> int:
        return len(self.study.trials_dataframe())

    def close(self) -> dict:
        return {}


def serve(kind: str, root: str) -> None:
    """A child: answers one command per line on stdin with one JSON line."""
    import gc

    import pandas  # noqa: F401 - imported before measuring, as in a notebook

    gc.collect()
    rss0 = _rss_mb()
    engine = Ours(root) if kind == "ours" else Optuna(root)
    done = 0
    for line in sys.stdin:
        cmd, *arg = line.split()
        t0, c0 = time.perf_counter(), time.process_time()
        out: dict = {}
        if cmd == "run":
            engine.run(int(arg[0]))
            done += int(arg[0])
        elif cmd == "memory":
            gc.collect()
            out["kb_per_trial"] = (_rss_mb() - rss0) * 1024 / max(done, 1)
        elif cmd == "frame":
            out["rows"] = engine.frame()
        elif cmd == "close":
            out.update(engine.close())
        out["s"] = time.perf_counter() - t0
        out["cpu_s"] = time.process_time() - c0
        print(json.dumps(out), flush=True)
        if cmd == "close":
            return


def reopen(path: str, dashboard: bool) -> None:
    import pandas  # noqa: F401

    import hpo_widgets as hw

    t0, c0 = time.perf_counter(), time.process_time()
    scan = hw.load(path)
    out = {"load_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    out["rows"] = len(scan.results)
    out["results_s"] = time.perf_counter() - t0
    out["cpu_s"] = time.process_time() - c0   # every thread of the process
    if dashboard:
        from hpo_widgets.widgets import Dashboard

        t0 = time.perf_counter()
        Dashboard(scan)
        out["dashboard_s"] = time.perf_counter() - t0
    print(json.dumps(out), flush=True)


class Child:
    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen([sys.executable, __file__, "--child", *args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, cmd: str) -> dict:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"child died on {cmd!r}")
        return json.loads(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--chunks", type=int, default=10)
    ap.add_argument("--no-optuna", action="store_true")
    ap.add_argument("--dashboard", action="store_true")
    ap.add_argument("--child", nargs="*")
    a = ap.parse_args()
    if a.child is not None:
        if a.child[0] == "reopen":
            reopen(a.child[1], a.child[2] == "1")
        else:
            serve(*a.child)
        return
    n, k = a.n, a.n // a.chunks
    with tempfile.TemporaryDirectory() as root:
        engines = {"ours": Child("ours", root)}
        if not a.no_optuna:
            engines["optuna"] = Child("optuna", root)
        per: dict[str, list[float]] = {e: [] for e in engines}
        for i in range(a.chunks):
            for name, child in engines.items():
                per[name].append(child.ask(f"run {k}")["s"] / k * 1e3)
            print(f"round {i + 1}/{a.chunks}: " + ", ".join(
                f"{e} {v[-1]:.3f} ms/trial" for e, v in per.items()), flush=True)
        res: dict[str, dict] = {e: {} for e in engines}
        for name, child in engines.items():
            res[name]["kb_per_trial"] = child.ask("memory")["kb_per_trial"]
        # the frames, three times each, interleaved: medians
        frames: dict[str, list[float]] = {e: [] for e in engines}
        frames_cpu: dict[str, list[float]] = {e: [] for e in engines}
        reopens: list[dict] = []
        for rep in range(3):
            for name, child in engines.items():
                answer = child.ask("frame")
                frames[name].append(answer["s"])
                frames_cpu[name].append(answer["cpu_s"])
            out = subprocess.run([sys.executable, __file__, "--child", "reopen",
                                  str(Path(root) / "big"),
                                  "1" if a.dashboard and rep == 0 else "0"],
                                 capture_output=True, text=True, check=True)
            reopens.append(json.loads(out.stdout.strip().splitlines()[-1]))
        for name in engines:
            res[name]["frame_s"] = statistics.median(frames[name])
            res[name]["frame_cpu_s"] = statistics.median(frames_cpu[name])
        re_ = {k: statistics.median(r[k] for r in reopens) for k in ("load_s", "results_s")}
        re_["reopen_s"] = statistics.median(r["load_s"] + r["results_s"] for r in reopens)
        re_["reopen_cpu_s"] = statistics.median(r["cpu_s"] for r in reopens)
        if "dashboard_s" in reopens[0]:
            re_["dashboard_s"] = reopens[0]["dashboard_s"]
        for name, child in engines.items():
            res[name].update(child.ask("close"))
    ours, opt = res["ours"], res.get("optuna")
    ms = {e: sum(v) / len(v) for e, v in per.items()}
    flat = {e: v[-1] / v[0] for e, v in per.items()}
    rows = [
        ("ms per trial (run, interleaved)", ms["ours"], ms.get("optuna")),
        ("flatness: last round / first", flat["ours"], flat.get("optuna")),
        ("kernel KB per trial", ours["kb_per_trial"], opt and opt["kb_per_trial"]),
        ("live results s (optuna: trials_dataframe)", ours["frame_s"], opt and opt["frame_s"]),
        ("reopen + results s (optuna: trials_dataframe)", re_["reopen_s"],
         opt and opt["frame_s"]),
        # CPU time: less swayed by other load on a shared machine than wall time
        ("  the same, CPU s", re_["reopen_cpu_s"], opt and opt["frame_cpu_s"]),
    ]
    print(f"\n{n:,} trials, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'':46}{'ours':>10}{'optuna':>10}{'ratio':>8}")
    for label, o, p in rows:
        ratio = f"{o / p:.2f}x" if p else ""
        print(f"{label:46}{o:10.3f}{(p if p is not None else float('nan')):10.3f}{ratio:>8}")
    print(f"run {sum(per['ours']) * k / 1e3:.1f} s; hw.load {re_['load_s']:.2f} s; results "
          f"{re_['results_s']:.2f} s; disk {ours['disk_bytes_per_trial']:.0f} B/trial"
          + (f"; Dashboard(scan) {re_['dashboard_s']:.2f} s" if "dashboard_s" in re_ else ""))


if __name__ == "__main__":
    main()
