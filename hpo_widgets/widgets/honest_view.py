"""The dashboard's view of the honest score and of selection luck (issue 13).

What it adds to a :class:`~hpo_widgets.widgets.dashboard.Dashboard`:

- the header's best line says how sure the choice is, in words (``Luck.sentence``:
  "best, but indistinguishable from 3 others ...");
- the top-trials table shows the metric with its 95% interval ("0.81 [0.74–0.88]") and
  each trial's ``p_best``, and after ``evaluate()`` the validation MCC next to CV, test,
  the measured ``optimism`` and the predicted ``optimism_expected``;
- error bars on the score-per-trial chart for trials that have an interval.

Threads: the scan's threads only call :meth:`HonestView.on_event`, which records a
finished trial's interval under a lock (O(1)). Everything that writes a widget or reads
kept predictions (:func:`hpo_widgets.honest.luck`, a few ms to a few hundred) runs on the
dashboard's refresher thread, through the dashboard's hooks, and luck is recomputed at
most every ``luck_interval`` seconds while the scan runs (once more when it stops).
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bqplot as bq
import numpy as np

from .. import honest
from ..options import base_metric
from . import chart_data as cd

__all__ = ["HonestView"]

log = logging.getLogger("hpo_widgets")

_BAR = "#9aa9bd"
#: Selection luck for the header and the table compares the best this many trials (an
#: estimate of the optimism needs all of them: that is ``honest.luck(scan)``'s job).
LUCK_TOP = 20


class HonestView:
    """Intervals, p_best and the luck sentence of a scan, for the dashboard's refresher.

    ``scales`` are the score-per-trial chart's ``{"x": ..., "y": ...}``; :attr:`bars` is
    the error-bar mark to put under its points. ``on_luck`` is called (on the refresher
    thread) when a new luck result is in, so that the parts showing it are redrawn.
    """

    def __init__(self, scan: Any, scales: dict[str, Any], luck_interval: float = 10.0,
                 on_luck: Callable[[], Any] | None = None) -> None:
        self.scan = scan
        self.on_luck = on_luck   # a new luck result: the table and bars that show it
        self.luck_interval = luck_interval
        self.luck: honest.Luck | None = None
        self._lock = threading.Lock()
        self._intervals: dict[int, tuple[float, float]] = {}   # honest metric: per trial
        self._luck_at = -float("inf")
        self._luck_done = -1       # scan.n_done when luck was last computed
        self._bars_drawn: tuple[Any, ...] = ()
        self.bars = bq.Lines(x=np.zeros((0, 2)), y=np.zeros((0, 2)), scales=scales,
                             colors=[_BAR], stroke_width=1.5, opacities=[0.8])
        self.honest_metric = base_metric(scan.metric) == "honest"
        scan.subscribe(self.on_event)   # first, then the catch-up: nothing slips between
        for t in scan.trials:
            self.take(t)

    def close(self) -> None:
        self.scan.unsubscribe(self.on_event)

    # -- the scan's threads ---------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        """Record a finished trial's interval (cheap; the scan's threads call it)."""
        t = getattr(event, "trial", None)
        if t is not None and getattr(t, "status", None) == "finished":
            self.take(t)

    def take(self, t: Any) -> None:
        if not self.honest_metric or t.value is None:
            return
        iv = honest.interval(t.metrics)
        if iv is not None:
            with self._lock:
                self._intervals[t.id] = iv

    # -- the refresher thread -------------------------------------------------------------
    def update_luck(self) -> honest.Luck | None:
        """Recompute selection luck when due: at most every ``luck_interval`` s while the
        scan runs, once more after it stopped; never when nothing is kept."""
        s = self.scan
        folder = getattr(s, "path", None)
        if folder is None or not (Path(folder) / honest.PREDICTIONS).is_dir():
            return self.luck
        done = s.n_done
        running = s.status in ("running", "paused", "stopping")
        due = done != self._luck_done and (
            not running or time.monotonic() - self._luck_at >= self.luck_interval)
        if due:
            self._luck_done, self._luck_at = done, time.monotonic()
            try:
                self.luck = honest.luck(s, top=LUCK_TOP)
            except Exception as e:  # noqa: BLE001 - a damaged file must not stop a redraw
                log.debug("selection luck not available: %s", e)
            else:
                if self.on_luck is not None:
                    self.on_luck()
        return self.luck

    def best_line(self, best: str) -> str:
        """The header's best line, with the luck sentence when there is one."""
        luck = self.update_luck()
        if luck is None:
            return best
        return f"{best} <span class='hpo-luck' style='opacity:.8'>— " \
               f"{html.escape(luck.sentence)}</span>"

    def _metric_interval(self, tid: int) -> tuple[float, float] | None:
        with self._lock:
            iv = self._intervals.get(tid)
        if iv is not None:
            return iv
        luck = self.luck
        if luck is not None and luck.metric == base_metric(self.scan.metric):
            return luck.interval.get(tid)
        return None

    def table_columns(self, rows: list[dict[str, Any]], cols: list[str]) -> list[str]:
        """Add the interval to the metric's cells, ``p_best`` and (after ``evaluate()``
        on an honest scan) the validation MCC next to CV and test; returns the columns."""
        metric = self.scan.metric
        luck = self.luck
        by_id = {}
        for r in rows:
            tid = r["trial"]
            r[metric] = cd.format_interval(r.get(metric), self._metric_interval(tid))
            if luck is not None and tid in luck.p_best:
                r["p_best"] = f"{luck.p_best[tid]:.0%}"
            by_id[tid] = r
        out = list(cols)
        if any("p_best" in r for r in rows):
            out.insert(out.index(metric) + 1, "p_best")
        if self.honest_metric and any("cv_mean" in r for r in rows):
            for r in rows:
                t = self.scan.trial(r["trial"])
                if t is not None and "honest_mcc" in t.metrics:
                    r["honest_mcc"] = t.metrics["honest_mcc"]
            out.insert(out.index("cv_mean"), "honest_mcc")
        return out

    def draw_bars(self) -> None:
        """The error bars of the score-per-trial chart (only when they changed)."""
        with self._lock:
            intervals = dict(self._intervals)
        if not intervals and self.luck is not None and \
                self.luck.metric == base_metric(self.scan.metric):
            intervals = dict(self.luck.interval)
        # clipped to the chart's value domain (set from the scores just before): a bar
        # drawn past the plot area would cover the title and the axis
        scale = self.bars.scales.get("y")
        lo, hi = getattr(scale, "min", None), getattr(scale, "max", None)
        key = (len(intervals), hash(tuple(sorted(intervals.items()))), lo, hi)
        if key == self._bars_drawn:
            return
        self._bars_drawn = key
        x, y = cd.error_bars(intervals)
        if lo is not None and hi is not None and y.size:
            y = np.clip(y, lo, hi)
        with self.bars.hold_sync():
            self.bars.x, self.bars.y = x, y
