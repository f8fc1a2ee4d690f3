"""Why a spawn-based ``multiprocessing.Pool`` "produced no output" for minutes, shown.

The issue reports a first try at parallel Keras trials with
``multiprocessing.get_context("spawn").Pool`` that printed nothing in 300 s. This script
reproduces the ways that happens on CPU, each in its own subprocess with a bounded
timeout, and runs the same function through :class:`hpo_widgets.workers.ProcessWorkers`
for contrast:

A. ``python -c``: the mapped function lives in an interactive ``__main__`` (no file).
B. a notebook (ipykernel, driven by nbclient): the function is defined in a cell.
C. a script without an ``if __name__ == "__main__":`` guard.
D. the same script with the guard (spawn working as documented).
E. ``ProcessWorkers`` mapping the function of A (``python -c``) and of B (in the notebook).

For each Pool case it records whether ``map`` returned within the timeout, how many
worker processes the pool started (polling ``pool._pool``), how many died, and what the
children wrote to stderr -- and, for the notebook, what reached the cell's output.

    python bench/spawn_pool_hang.py              # about 1-2 minutes
    python bench/spawn_pool_hang.py --wait 10    # seconds each Pool gets (default 20)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs inside the interactive/script __main__ of each case: map fn over 4 inputs with a
# spawn Pool, bounded by WAIT seconds, and report what happened as one JSON line.
POOL_PROBE = textwrap.dedent("""
    import json, multiprocessing as mp, threading, time

    def fn(x):
        return x * x

    def probe(wait):
        ctx = mp.get_context("spawn")
        t0 = time.time()
        pool = ctx.Pool(2)
        seen, stop = set(), threading.Event()

        def watch():   # every worker process the pool ever started
            while not stop.is_set():
                seen.update(p.pid for p in list(pool._pool))
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()
        res = pool.map_async(fn, range(4))
        try:
            out = {"returned": True, "result": res.get(timeout=wait)}
        except mp.TimeoutError:
            out = {"returned": False, "result": None}
        out["seconds"] = round(time.time() - t0, 1)
        time.sleep(0.3)
        stop.set()
        exitcodes = [p.exitcode for p in list(pool._pool)]
        pool.terminate()
        out.update(workers_started=len(seen), alive_at_end=exitcodes.count(None))
        return out
""")

CASE_A = POOL_PROBE + "\nprint('RESULT ' + json.dumps(probe(WAIT)))\n"

CASE_C = POOL_PROBE + "\nprint('RESULT ' + json.dumps(probe(WAIT)), flush=True)\n"   # no guard

CASE_D = POOL_PROBE + textwrap.dedent("""
    if __name__ == "__main__":
        print('RESULT ' + json.dumps(probe(WAIT)))
""")

WORKERS_PROBE = textwrap.dedent("""
    import json, time
    from hpo_widgets.workers import ProcessWorkers

    def fn(x):
        return x * x

    t0 = time.time()
    with ProcessWorkers(2) as pool:
        futs = [pool.submit(fn, x) for x in range(4)]
        result = [f.result(timeout=WAIT) for f in futs]
    print('RESULT ' + json.dumps({"returned": True, "result": result,
                                   "seconds": round(time.time() - t0, 1)}))
""")


def run(cmd: list[str], wait: float, cwd: str | None = None) -> dict:
    t = time.time()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=wait + 60, cwd=cwd,
                           env=env)
        so, se, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        so = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        se = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        rc = "timeout"
    res = None
    for line in so.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
    # the last line(s) of each child traceback: "SomeError: message" (RuntimeError's message
    # starts on the next line)
    errors = [" ".join(m.split()) for m in re.findall(
        r"^(\w+(?:Error|Exception): (?:.+|\n\s+\S.+))$", se, flags=re.M)]
    return {"rc": rc, "wall": round(time.time() - t, 1), "probe": res,
            "child_tracebacks": se.count("Traceback (most recent call last)"),
            "child_errors": sorted(set(errors)), "stderr": se, "stdout": so}


def notebook_case(wait: float) -> dict:
    """The function defined in a notebook cell; Pool, then ProcessWorkers, in one kernel."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(POOL_PROBE.replace("WAIT", str(wait))),
        nbformat.v4.new_code_cell("import sys; print('__main__ is', sys.modules['__main__'])\n"
                                  "print('fn lives in', fn.__module__)"),
        nbformat.v4.new_code_cell(f"import json; print('RESULT ' + json.dumps(probe({wait})))"),
        nbformat.v4.new_code_cell(WORKERS_PROBE.replace("WAIT", str(wait))
                                  .replace("RESULT ", "WORKERS ")),
    ]
    client = NotebookClient(nb, timeout=wait + 60, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    outputs = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            outputs.append(o.get("text", "") or json.dumps(o.get("data", {}))[:300]
                           or o.get("ename", ""))
    text = "".join(outputs)
    pool = workers = None
    for line in text.splitlines():
        if line.startswith("RESULT "):
            pool = json.loads(line[7:])
        if line.startswith("WORKERS "):
            workers = json.loads(line[8:])
    return {"cell_output": text, "probe": pool, "workers": workers}


def short(d: dict | None) -> str:
    if d is None:
        return "no result"
    if d.get("returned"):
        return f"returned {d['result']} in {d['seconds']} s"
    return f"NO RESULT after {d['seconds']} s (map_async(...).get timed out)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wait", type=float, default=20, help="seconds each Pool.map gets")
    ap.add_argument("--skip-notebook", action="store_true")
    ap.add_argument("--notebook-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    w = args.wait
    if args.notebook_child:
        print("NB " + json.dumps(notebook_case(w)), flush=True)
        return
    py = sys.executable
    print(f"Python {sys.version.split()[0]}, default start method "
          f"{__import__('multiprocessing').get_start_method()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}\n")
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out["A"] = run([py, "-c", CASE_A.replace("WAIT", str(w))], w)
        sc = Path(tmp, "noguard.py")
        sc.write_text(CASE_C.replace("WAIT", str(w)))
        out["C"] = run([py, str(sc)], w, cwd=tmp)
        sd = Path(tmp, "guarded.py")
        sd.write_text(CASE_D.replace("WAIT", str(w)))
        out["D"] = run([py, str(sd)], w, cwd=tmp)
        out["E"] = run([py, "-c", WORKERS_PROBE.replace("WAIT", str(w))], w)
    for key, title in (("A", "A. spawn Pool, fn in `python -c` __main__"),
                       ("C", "C. spawn Pool, script without __main__ guard"),
                       ("D", "D. spawn Pool, script with the guard"),
                       ("E", "E. ProcessWorkers, fn in `python -c` __main__")):
        r = out[key]
        p = r["probe"] or {}
        print(f"{title}\n   {short(r['probe'])}; workers started {p.get('workers_started', '-')}"
              f", alive at end {p.get('alive_at_end', '-')}; child tracebacks on stderr: "
              f"{r['child_tracebacks']}")
        for e in r["child_errors"][:3]:
            print(f"   stderr: {e[:200]}")
    if not args.skip_notebook:
        # in a subprocess, so that what the kernel's children write to the stderr they
        # inherit (the terminal that started Jupyter) is captured apart from the cells
        r = run([py, __file__, "--notebook-child", "--wait", str(w)], 2 * w + 60)
        nbr = next((json.loads(ln[3:]) for ln in r["stdout"].splitlines()
                    if ln.startswith("NB ")), {})
        p = nbr.get("probe") or {}
        print("B. spawn Pool, fn defined in a notebook cell (ipykernel via nbclient)\n"
              f"   {short(nbr.get('probe'))}; workers started {p.get('workers_started', '-')}, "
              f"alive at end {p.get('alive_at_end', '-')}")
        shown = [ln for ln in nbr.get("cell_output", "").splitlines()
                 if not ln.startswith(("RESULT ", "WORKERS "))]
        print("   what the notebook's cells showed besides our probe lines:")
        for ln in shown[:12]:
            print(f"     | {ln[:160]}")
        print(f"   the terminal that launched the kernel (its inherited stderr) got "
              f"{r['child_tracebacks']} tracebacks:")
        for e in r["child_errors"][:3]:
            print(f"     stderr: {e[:200]}")
        print(f"   ProcessWorkers in the same kernel: {short(nbr.get('workers'))}")
        out["B"] = nbr

    a, c = (out[k]["probe"] or {} for k in "AC")
    nb_tb = "Traceback" in (out.get("B") or {}).get("cell_output", "")
    try:
        import ipykernel
        ipk = f"ipykernel {ipykernel.__version__}"
    except ImportError:
        ipk = "ipykernel"
    if args.skip_notebook:
        where = ""
    elif nb_tb:
        where = (f" In a notebook ({ipk}) the children's tracebacks did reach the cell's "
                 "output (the kernel forwards output written to its file descriptors) as "
                 "well as the terminal that started the kernel, but the cell never finishes.")
    else:
        where = (f" In a notebook ({ipk}) the cell showed none of it: the tracebacks went "
                 "only to the terminal that started the kernel, and the cell never finishes.")
    print("\nConclusion:")
    print(textwrap.fill(
        "A spawn child starts a fresh interpreter and unpickles the task's function by "
        "reference (module + name). A function defined in an interactive __main__ "
        "(`python -c`, a notebook cell) does not exist in the child, so each worker dies "
        "on its first task with AttributeError (Can't get attribute 'fn' on <module "
        "'__main__'>), printed to the child's stderr; the Pool starts a replacement, "
        "the task is lost, and map() waits forever with idle workers "
        f"(A: {a.get('workers_started')} workers started for 4 tasks, no result in "
        f"{a.get('seconds')} s; no endless respawning once the tasks are used up)." + where
        + " In a script without the __main__ guard every child "
        "re-runs the script, fails with RuntimeError while bootstrapping, and the Pool "
        f"respawns workers endlessly (C: {c.get('workers_started')} workers started in "
        f"{c.get('seconds')} s): stdout stays empty while stderr fills with bootstrapping "
        "RuntimeErrors; with Keras/torch imported at the top of such a script each "
        "respawn would also re-import the framework (seconds of CPU each; not measured "
        "here). With the guard and the function in a file, spawn works "
        f"(D: {short(out['D']['probe'])}). ProcessWorkers sends the function by value "
        "(cloudpickle) and starts workers with `python -m hpo_widgets.workers`, so the "
        f"same interactive function just runs (E: {short(out['E']['probe'])}); a worker "
        "that dies fails its trial with the exit code instead of hanging.", 100))


if __name__ == "__main__":
    main()
