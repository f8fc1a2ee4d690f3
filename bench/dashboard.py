"""What an attached dashboard costs the kernel, and what it sends to the browser.

Streams fast trials into a scan with its dashboard attached (headless: the widget
messages go to a counting comm instead of a browser) and reports, per size:

- kernel CPU time spent in the dashboard per trial (its listener on the scan's
  threads plus its refresher thread), in ms;
- bytes sent to the front end per second of scan, and per redraw.

    python bench/dashboard.py                    # 1,000, 10,000 and 100,000 trials
    python bench/dashboard.py --sizes 1000 10000

Targets (issue 4): < 1 ms per trial at 10,000 trials; bytes per second flat as the scan
grows and < 1 MB/s at 100,000 trials.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from pathlib import Path

import comm
from comm.base_comm import BaseComm

import hpo_widgets as hw


class CountingComm(BaseComm):
    """A comm with no front end that counts what would cross the wire."""

    lock = threading.Lock()
    bytes_sent = 0
    messages = 0

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        size = len(json.dumps(data or {}, default=str)) + sum(
            memoryview(b).nbytes for b in (buffers or []))
        with CountingComm.lock:
            CountingComm.bytes_sent += size
            CountingComm.messages += 1


def objective(params):
    return (params["x"] - 0.3) ** 2 + params["lr"] + (params["act"] == "relu")


def run(n: int, root: Path) -> dict:
    space = hw.Space(x=hw.Float(0, 1), lr=hw.Float(1e-4, 1e-1, log=True),
                     act=hw.Choice(["relu", "elu", "gelu"]), u=hw.Int(16, 512, log=True))
    scan = hw.Scan(objective, space, max_trials=n, seed=0, store=root, name=f"dash{n}")
    dash = scan.dashboard()
    time.sleep(0.3)
    CountingComm.bytes_sent = CountingComm.messages = 0
    refreshes0 = dash.stats["refreshes"]
    t0 = time.perf_counter()
    scan.start().wait()
    wall = time.perf_counter() - t0
    time.sleep(dash.min_interval * 2)    # the last redraw
    kernel_s = dash.stats["listener_s"] + dash.stats["refresh_s"]
    out = {"n": n, "wall": wall, "ms_per_trial": kernel_s / n * 1e3,
           "bytes_per_s": CountingComm.bytes_sent / wall,
           "redraws": dash.stats["refreshes"] - refreshes0,
           "bytes_per_redraw": CountingComm.bytes_sent / max(1, dash.stats["refreshes"]
                                                             - refreshes0)}
    dash.close()
    scan.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    args = ap.parse_args()
    logging.getLogger("hpo_widgets").setLevel(logging.ERROR)
    comm.create_comm = CountingComm
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            rows.append(run(n, Path(tmp)))
    print(f"{'trials':>7} | {'wall s':>7} | {'dashboard ms/trial':>18} | {'KB/s sent':>9} | "
          f"{'redraws':>7} | {'KB/redraw':>9}")
    for r in rows:
        print(f"{r['n']:>7} | {r['wall']:>7.1f} | {r['ms_per_trial']:>18.4f} | "
              f"{r['bytes_per_s'] / 1e3:>9.1f} | {r['redraws']:>7} | "
              f"{r['bytes_per_redraw'] / 1e3:>9.1f}")


if __name__ == "__main__":
    main()
