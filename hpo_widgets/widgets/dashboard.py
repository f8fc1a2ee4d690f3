"""The live dashboard of a scan: header, controls, space editor, charts, table.

The dashboard is a listener and a remote control: it hears the scan's events, and
its buttons and sliders call the scan's methods. It never touches the store.

Threads: scan events arrive on the scan's threads. The listener only records what
changed (O(1) per event); one refresher thread per dashboard redraws at most
``max_fps`` times a second, each redraw batched with ``hold_sync()``. Nothing in the
dashboard can stop the scan: a listener that raises is detached by the scan, and the
refresher catches and logs its own errors.
"""

from __future__ import annotations

import contextlib
import html
import logging
import math
import threading
import time
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np

from ..scan import Scan, ScanEvent
from ..space import Choice, Fixed, Float, Int, Param, Space
from ..strategies import STRATEGY_NAMES
from . import chart_data as cd

__all__ = ["Dashboard", "SpaceEditor"]

log = logging.getLogger("hpo_widgets")

_STATUS_COLORS = {"idle": "#6b7280", "running": "#16a34a", "paused": "#d97706",
                  "stopping": "#d97706", "finished": "#2563eb", "failed": "#dc2626"}
_BEST = "#e4572e"
_CHART_PARTS = frozenset({"history", "param", "curves", "table", "parcoords"})
_POINT = "#4c78a8"


def _fmt(v: Any) -> str:
    return cd.format_value(v)


# Narrow containers (JupyterLab's side panel is ~250 px wide by default): the same widget
# views stack and shrink instead of being cut off. A CSS container query decides per
# view, so the notebook's wide view and the panel's narrow view of one dashboard each
# get their own layout; ``!important`` is what beats the widgets' inline sizes.
COMPACT_BELOW_PX = 640
_STYLE = f"""<style>
.hpo-dashboard {{ container-type: inline-size; container-name: hpo-dash; }}
@container hpo-dash (max-width: {COMPACT_BELOW_PX}px) {{
  .hpo-dashboard .hpo-space {{ width: 100% !important; }}
  .hpo-dashboard .hpo-param {{ flex-wrap: wrap !important; }}
  .hpo-dashboard .hpo-param .hpo-label {{ width: 100% !important; }}
  .hpo-dashboard .hpo-param .hpo-range {{ width: auto !important; flex: 1 1 120px !important;
                                          min-width: 80px !important; }}
  .hpo-dashboard .hpo-param .hpo-readout {{ width: auto !important; flex: 1 1 auto !important; }}
  .hpo-dashboard .hpo-chart-history, .hpo-dashboard .hpo-chart-curves,
  .hpo-dashboard .hpo-param-box, .hpo-dashboard .hpo-table-box {{
      min-width: 0 !important; flex: 1 1 100% !important; width: 100% !important; }}
  .hpo-dashboard .hpo-header .hpo-progress {{ width: 100% !important; }}
  .hpo-dashboard .mainheading {{ font-size: 11px !important; }}
  .hpo-dashboard .hpo-strategy, .hpo-dashboard .hpo-max-trials,
  .hpo-dashboard .hpo-param-picker, .hpo-dashboard .hpo-narrow-top {{
      width: auto !important; max-width: 100% !important; }}
}}
</style>"""


# -- space editor ---------------------------------------------------------------------
class _ParamRow:
    """One parameter's controls: a range slider or value toggles, and a 'fix' toggle."""

    def __init__(self, name: str, base: Param, on_change: Any) -> None:
        self.name, self.base, self._on_change = name, base, on_change
        self.fixed_value: Any = None
        self.label = W.HTML(f"<b>{html.escape(name)}</b>",
                            layout=W.Layout(width="80px", overflow="hidden"))
        self.label.add_class("hpo-label")
        self.readout = W.HTML(layout=W.Layout(width="120px"))
        self.readout.add_class("hpo-readout")
        self.fix = W.ToggleButton(value=False, description="fix", tooltip=(
            f"Fix {name} to the best trial's value (or the middle of its range)"),
            layout=W.Layout(width="48px"))
        self.fix.add_class("hpo-fix")
        self.control: W.Widget
        self._toggles: list[W.ToggleButton] = []
        discrete = isinstance(base, Float | Int) and (base.step is not None or base.num is not None)
        grid = base.grid() if discrete else None
        if isinstance(base, Choice):
            self._toggles = [W.ToggleButton(value=True, description=_fmt(v), tooltip=str(v),
                                            layout=W.Layout(width="auto", min_width="42px"))
                             for v in base.values]
            for t in self._toggles:
                t.observe(self._changed, "value")
            self.control = W.HBox(self._toggles, layout=W.Layout(flex_flow="row wrap"))
        elif grid is not None:
            self.control = W.SelectionRangeSlider(
                options=[(_fmt(v), v) for v in grid], index=(0, len(grid) - 1),
                continuous_update=False, readout=False, layout=W.Layout(width="170px"))
            self.control.observe(self._changed, "value")
        elif isinstance(base, Float | Int) and base.log:
            lo, hi = math.log10(base.low), math.log10(base.high)
            self.control = W.FloatRangeSlider(min=lo, max=hi, value=(lo, hi), step=(hi - lo) / 200,
                                              continuous_update=False, readout=False,
                                              layout=W.Layout(width="170px"))
            self.control.observe(self._changed, "value")
        elif isinstance(base, Int):
            self.control = W.IntRangeSlider(min=int(base.low), max=int(base.high),
                                            value=(int(base.low), int(base.high)),
                                            continuous_update=False, readout=False,
                                            layout=W.Layout(width="170px"))
            self.control.observe(self._changed, "value")
        elif isinstance(base, Float):
            self.control = W.FloatRangeSlider(min=base.low, max=base.high,
                                              value=(base.low, base.high),
                                              step=(base.high - base.low) / 200,
                                              continuous_update=False, readout=False,
                                              layout=W.Layout(width="170px"))
            self.control.observe(self._changed, "value")
        else:  # Fixed from the start: nothing to tune
            self.control = W.HTML(f"= {html.escape(_fmt(getattr(base, 'value', '')))}")
            self.fix.layout.visibility = "hidden"
        self.control.add_class("hpo-range")
        self.fix.observe(self._changed, "value")
        self.box = W.HBox([self.label, self.control, self.readout, self.fix],
                          layout=W.Layout(align_items="center"))
        self.box.add_class("hpo-param")
        self.box.add_class(f"hpo-param-{name}")
        self._quiet = False

    def _changed(self, change: Any) -> None:
        if not self._quiet:
            self._on_change(self)

    # slider position <-> Param
    def param(self, best_value: Any) -> Param:
        """The parameter the controls describe now."""
        b = self.base
        if isinstance(b, Fixed):
            return b
        if self.fix.value:
            if self.fixed_value is None:
                self.fixed_value = best_value if best_value is not None else b.decode(0.5)
            return Fixed(self.fixed_value)
        self.fixed_value = None
        if isinstance(b, Choice):
            keep = [v for v, t in zip(b.values, self._toggles, strict=True) if t.value]
            if not keep:
                raise ValueError(f"{self.name}: keep at least one value")
            return b if len(keep) == len(b.values) else (
                b.narrow(keep) if len(keep) > 1 else Fixed(keep[0]))
        c = self.control
        if isinstance(c, W.SelectionRangeSlider):
            lo, hi = c.value
        elif isinstance(b, Float | Int) and b.log:
            lo, hi = 10 ** c.value[0], 10 ** c.value[1]
        else:
            lo, hi = c.value
        assert isinstance(b, Float | Int)
        lo, hi = max(lo, b.low), min(hi, b.high)
        if isinstance(b, Int):
            lo, hi = math.ceil(lo - 1e-9), math.floor(hi + 1e-9)
        if lo == b.low and hi == b.high:
            return b
        if hi <= lo:
            return Fixed(int(lo) if isinstance(b, Int) else lo)
        return b.narrow(lo, hi)

    def show(self, p: Param) -> None:
        """Move the controls to show ``p`` (from the scan), without echoing back."""
        self._quiet = True
        try:
            b = self.base
            if isinstance(b, Fixed):
                return
            is_fixed = isinstance(p, Fixed)
            if is_fixed and not self.fix.value and isinstance(b, Choice):
                for v, t in zip(b.values, self._toggles, strict=True):
                    t.value = bool(p.contains(v))
                is_fixed = False
            self.fix.value = is_fixed
            if is_fixed:
                self.fixed_value = p.value  # type: ignore[attr-defined]
            self.control.disabled = is_fixed
            for t in self._toggles:
                t.disabled = is_fixed
            if isinstance(b, Choice) and isinstance(p, Choice):
                for v, t in zip(b.values, self._toggles, strict=True):
                    t.value = bool(p.contains(v))
            elif isinstance(p, Float | Int) and isinstance(b, Float | Int):
                c = self.control
                if isinstance(c, W.SelectionRangeSlider):
                    grid = b.grid() or []
                    ids = [i for i, g in enumerate(grid) if p.low - 1e-12 <= g <= p.high + 1e-12]
                    if ids:
                        c.index = (ids[0], ids[-1])
                elif b.log:
                    c.value = (math.log10(p.low), math.log10(p.high))
                else:
                    c.value = (p.low, p.high)
            self.readout.value = self._readout(p)
        finally:
            self._quiet = False

    @staticmethod
    def _readout(p: Param) -> str:
        if isinstance(p, Fixed):
            return f"= {html.escape(_fmt(p.value))}"
        if isinstance(p, Choice):
            return f"{len(p.values)} value{'s' if len(p.values) != 1 else ''}"
        if isinstance(p, Float | Int):
            lo, hi = (f"{p.low:.3g}", f"{p.high:.3g}") if isinstance(p, Float) else (
                _fmt(p.low), _fmt(p.high))
            return f"{lo} – {hi}{' (log)' if p.log else ''}"
        return ""


class SpaceEditor(W.VBox):
    """Sliders and toggles over a scan's space; edits apply to trials not yet started."""

    def __init__(self, scan: Scan, base: Space | None = None) -> None:
        self.scan = scan
        self.base = base or scan.space
        # Clicks arrive on the kernel's main thread, scan-driven updates on the dashboard's
        # refresher thread: one lock keeps "move the sliders" and "read the sliders" apart
        # (else a half-moved set of sliders can be read back as the user's edit).
        self._lock = threading.RLock()
        self.rows = {n: _ParamRow(n, p, self._edited) for n, p in self.base.items()}
        self.note = W.HTML()
        self.narrow_top = W.Button(description="Narrow to top 10%", icon="compress",
                                   layout=W.Layout(width="170px"),
                                   tooltip="Set every range from the best 10% of finished trials")
        self.narrow_top.add_class("hpo-narrow-top")
        self.reset = W.Button(description="Reset", icon="undo",
                              tooltip="Back to the space the dashboard started with")
        self.reset.add_class("hpo-reset-space")
        self.narrow_top.on_click(lambda _: self.apply_top_fraction())
        self.reset.on_click(lambda _: self._set(self.base))
        super().__init__([W.HTML("<b>Search space</b> <span style='opacity:.7'>(applies to new "
                                 "trials)</span>"),
                          *[r.box for r in self.rows.values()],
                          W.HBox([self.narrow_top, self.reset]), self.note],
                         layout=W.Layout(width="430px", flex="0 0 auto"))
        self.add_class("hpo-space")
        self.show(scan.space)

    def _best_value(self, name: str) -> Any:
        best = self.scan.best
        return None if best is None else best.params.get(name)

    def _edited(self, row: _ParamRow) -> None:
        with self._lock:
            try:
                new = Space({n: r.param(self._best_value(n)) for n, r in self.rows.items()})
            except ValueError as e:
                self.note.value = f"<span style='color:#dc2626'>{html.escape(str(e))}</span>"
                self.show(self.scan.space)
                return
            self._set(new)

    def _set(self, space: Space) -> None:
        with self._lock:
            try:
                self.scan.space = space
                self.note.value = ""
            except (TypeError, ValueError) as e:
                self.note.value = f"<span style='color:#dc2626'>{html.escape(str(e))}</span>"
            self.show(self.scan.space)

    def apply_top_fraction(self, fraction: float = 0.1) -> None:
        """Narrow every range to where the best ``fraction`` of trials lie."""
        ranges = cd.top_fraction_ranges(self.scan.trials, self.base, self.scan.minimize,
                                        fraction)
        if not ranges:
            self.note.value = "Not enough finished trials to narrow yet."
            return
        self._set(self.base.narrow(**ranges))

    def narrow_param(self, name: str, lo: float, hi: float) -> None:
        """Narrow one parameter to ``[lo, hi]`` (chart coordinates: choice index for choices)."""
        p = self.base[name]
        space = self.scan.space
        if isinstance(p, Choice):
            keep = [v for i, v in enumerate(p.values) if lo - 0.5 < i < hi + 0.5]
            keep = keep or [p.values[min(max(round((lo + hi) / 2), 0), len(p.values) - 1)]]
            self._set(space.narrow(**{name: keep if len(keep) > 1 else keep[0]}))
        elif isinstance(p, Float | Int):
            lo, hi = max(lo, p.low), min(hi, p.high)
            if isinstance(p, Int):
                lo, hi = math.ceil(lo), math.floor(hi)
            if hi <= lo:
                self._set(space.narrow(**{name: int(lo) if isinstance(p, Int) else lo}))
            else:
                self._set(space.narrow(**{name: p.narrow(lo, hi)}))

    def restore_param(self, name: str) -> None:
        self._set(self.scan.space.narrow(**{name: self.base[name]}))

    def show(self, space: Space) -> None:
        with self._lock:
            for n, row in self.rows.items():
                if n in space:
                    row.show(space[n])


# -- the dashboard ----------------------------------------------------------------------
class Dashboard(W.VBox):
    """The live dashboard of a scan (what displaying a ``Scan`` shows).

    >>> scan = hw.Scan(objective, space)            # doctest: +SKIP
    >>> scan.start(); scan.dashboard()              # doctest: +SKIP
    """

    def __init__(self, scan: Scan, max_fps: float = 4.0, chart_interval: float = 1.0,
                 top_k: int = 10) -> None:
        self.scan = scan
        self.min_interval = 1.0 / max_fps
        self.chart_interval = chart_interval
        self._last_charts = 0.0
        self._force = False
        self.top_k = top_k
        self.base_space = scan.space
        names = self.base_space.tunable
        self.series = cd.TrialSeries(names)
        self._seen: set[int] = set()
        self._live_curves: dict[int, list[tuple[float, float]]] = {}
        # Kept incrementally so a redraw costs the same at 100 or 100,000 trials.
        self._top: list[Any] = []          # best finished trials, best first (<= _keep_top)
        self._keep_top = max(50, top_k)
        self._running: dict[int, Any] = {}
        self._dirty: set[str] = {"all"}
        self._pending: list[Any] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.stats = {"listener_s": 0.0, "refresh_s": 0.0, "refreshes": 0, "events": 0}

        self._build_header()
        self._build_controls()
        self.space_editor = SpaceEditor(scan, self.base_space)
        self._build_charts()
        self._build_table()
        row = W.Layout(width="100%", flex_flow="row wrap")
        charts = W.VBox([W.HBox([self.history_fig, self.param_box], layout=row),
                         *([self.parcoords] if self.parcoords is not None else []),
                         W.HBox([self.curves_fig, self.table_box], layout=row)],
                        layout=W.Layout(flex="1 1 600px", min_width="0"))
        # side by side on wide screens; the charts wrap below the sliders on narrow ones
        body = W.HBox([self.space_editor, charts],
                      layout=W.Layout(align_items="flex-start", flex_flow="row wrap"))
        style = W.HTML(_STYLE, layout=W.Layout(display="none"))
        super().__init__([style, self.header, self.controls, body],
                         layout=W.Layout(border="1px solid var(--jp-border-color2, #ddd)",
                                         padding="6px"))
        self.add_class("hpo-dashboard")

        with self._lock:
            scan.subscribe(self._on_event)   # under the lock: no event slips between
            for t in scan.trials:             # the catch-up and the subscription
                self._take(t)
        self._thread = threading.Thread(target=self._refresher, daemon=True,
                                        name=f"hpo-dashboard-{scan.name}")
        self._thread.start()
        self.refresh()

    # -- parts --------------------------------------------------------------------------
    def _build_header(self) -> None:
        self.title = W.HTML()
        self.title.add_class("hpo-title")
        self.status = W.HTML()
        self.status.add_class("hpo-status")
        self.progress = W.IntProgress(min=0, max=1, value=0, layout=W.Layout(width="170px"))
        self.progress.add_class("hpo-progress")
        self.progress_text = W.HTML()
        self.progress_text.add_class("hpo-progress-text")
        self.best_html = W.HTML(layout=W.Layout(flex="1 1 auto"))
        self.best_html.add_class("hpo-best")
        self.header = W.HBox([self.title, self.status, self.progress, self.progress_text,
                              self.best_html], layout=W.Layout(align_items="center",
                                                               flex_flow="row wrap"))
        self.header.add_class("hpo-header")

    def _build_controls(self) -> None:
        s = self.scan
        self.start_btn = W.Button(description="Start", icon="play", button_style="success",
                                  layout=W.Layout(width="110px"))
        self.start_btn.add_class("hpo-start")
        self.pause_btn = W.Button(description="Pause", icon="pause",
                                  layout=W.Layout(width="100px"))
        self.pause_btn.add_class("hpo-pause")
        self.stop_btn = W.Button(description="Stop", icon="stop", button_style="danger",
                                 layout=W.Layout(width="90px"))
        self.stop_btn.add_class("hpo-stop")
        options = list(STRATEGY_NAMES)
        if s.strategy.name not in options:
            options.append(s.strategy.name)
        self.strategy = W.Dropdown(options=options, value=s.strategy.name,
                                   description="strategy", layout=W.Layout(width="200px"))
        self.strategy.add_class("hpo-strategy")
        self.max_trials = W.BoundedIntText(value=s.max_trials or 0, min=0, max=10**9,
                                           description="max trials",
                                           tooltip="0 = no limit",
                                           layout=W.Layout(width="180px"))
        self.max_trials.add_class("hpo-max-trials")
        self.message = W.HTML()
        self.message.add_class("hpo-message")
        self.start_btn.on_click(self._click_start)
        self.pause_btn.on_click(self._click_pause)
        self.stop_btn.on_click(lambda _: self._safely(self.scan.stop))
        self.strategy.observe(self._pick_strategy, "value")
        self.max_trials.observe(self._set_max_trials, "value")
        self.controls = W.HBox([self.start_btn, self.pause_btn, self.stop_btn, self.strategy,
                                self.max_trials, self.message],
                               layout=W.Layout(align_items="center", flex_flow="row wrap"))
        self.controls.add_class("hpo-controls")

    def _build_charts(self) -> None:
        s = self.scan
        lay = W.Layout(flex="1 1 320px", min_width="300px", height="260px")
        margin = {"top": 30, "bottom": 40, "left": 70, "right": 20}
        # score per trial + best so far
        hx, hy = bq.LinearScale(min=0.0), bq.LinearScale()
        self.hist_points = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": hx, "y": hy},
                                      colors=[_POINT], default_size=14, opacities=[0.6])
        self.hist_best = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": hx, "y": hy},
                                  colors=[_BEST], stroke_width=2, interpolation="step-after")
        self.history_fig = bq.Figure(
            marks=[self.hist_points, self.hist_best],
            axes=[bq.Axis(scale=hx, label="trial", num_ticks=5),
                  bq.Axis(scale=hy, orientation="vertical", label=s.metric, tick_format=".3g",
                          label_offset="50px")],
            title=f"{s.metric} per trial (best so far in red)", fig_margin=margin, layout=lay,
            animation_duration=0)
        self.history_fig.add_class("hpo-chart-history")
        # one parameter against the score, with a brush that narrows it
        names = self.base_space.tunable
        self.param_picker = W.Dropdown(options=names, value=names[0] if names else None,
                                       description="parameter", layout=W.Layout(width="240px"))
        self.param_picker.add_class("hpo-param-picker")
        self.param_fig = bq.Figure(fig_margin=margin, layout=lay, animation_duration=0)
        self.param_fig.add_class("hpo-chart-param")
        self.param_points: bq.Scatter | None = None
        self.param_brush: Any = None
        self.param_picker.observe(lambda _: self._setup_param_chart(), "value")
        self.param_box = W.VBox([self.param_picker, self.param_fig],
                                layout=W.Layout(flex="1 1 320px", min_width="300px"))
        self.param_box.add_class("hpo-param-box")
        self.param_fig.layout = W.Layout(width="100%", height="260px")
        if names:
            self._setup_param_chart()
        # learning curves
        cx, cy = bq.LinearScale(), bq.LinearScale()
        self.curves = bq.Lines(x=np.zeros((0, 0)), y=np.zeros((0, 0)),
                               scales={"x": cx, "y": cy}, stroke_width=1.5)
        self.curves_fig = bq.Figure(
            marks=[self.curves],
            axes=[bq.Axis(scale=cx, label="step", tick_format="~g"),
                  bq.Axis(scale=cy, orientation="vertical", label="reported", tick_format=".3g",
                          label_offset="50px")],
            title="learning curves (running: orange, best: blue)", fig_margin=margin,
            layout=lay, animation_duration=0)
        self.curves_fig.add_class("hpo-chart-curves")
        # parallel coordinates (custom widget; needs its built front end)
        self.parcoords = None
        try:
            from .parcoords import ParallelCoordinates

            self.parcoords = ParallelCoordinates(
                dims=cd.parcoords_dims(self.base_space), metric=s.metric, minimize=s.minimize,
                layout=W.Layout(width="100%", height="260px"))
            self.parcoords.add_class("hpo-chart-parcoords")
            self.parcoords.observe(self._parcoords_brushed, "selection")
        except Exception as e:  # noqa: BLE001 - the rest of the dashboard still works
            log.warning("parallel coordinates unavailable: %s", e)

    def _setup_param_chart(self) -> None:
        name = self.param_picker.value
        p = self.base_space[name]
        ax = cd.param_axis(p)
        xs = bq.LogScale() if ax["kind"] == "log" else bq.LinearScale()
        ys = bq.LinearScale()
        if ax["kind"] == "choice":
            xs = bq.LinearScale(min=ax["min"], max=ax["max"])
        else:
            xs.min, xs.max = float(ax["min"]), float(ax["max"])
        xaxis = bq.Axis(scale=xs, label=name, num_ticks=5,
                        tick_format=".0e" if ax["kind"] == "log" else ".3~g")
        if ax["kind"] == "log":   # one tick per decade; d3's log ticks crowd at the top
            lo, hi = math.floor(math.log10(ax["min"])), math.ceil(math.log10(ax["max"]))
            step = max(1, (hi - lo) // 5)
            xaxis.tick_values = np.array([10.0 ** k for k in range(lo, hi + 1, step)
                                          if ax["min"] <= 10.0 ** k * 1.0000001
                                          and 10.0 ** k <= ax["max"] * 1.0000001])
        if ax["kind"] == "choice":
            xaxis.tick_values = np.arange(len(ax["labels"]), dtype=float)
            xaxis.tick_labels = {float(i): lab for i, lab in enumerate(ax["labels"])}
        self.param_points = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys},
                                       colors=[_POINT], default_size=14, opacities=[0.6])
        brush = bq.interacts.BrushIntervalSelector(scale=xs, marks=[self.param_points],
                                                   color="#d97706")
        brush.observe(self._param_brushed, "brushing")
        self.param_brush = brush
        with self.param_fig.hold_sync():
            self.param_fig.marks = [self.param_points]
            self.param_fig.axes = [xaxis, bq.Axis(scale=ys, orientation="vertical",
                                                  label=self.scan.metric, tick_format=".3g",
                                                  label_offset="50px")]
            self.param_fig.interaction = brush
            self.param_fig.title = f"{self.scan.metric} vs {name} (drag to narrow {name})"
        self._now("param")

    def _build_table(self) -> None:
        s = self.scan
        cols = [s.metric, "trial", "duration", *self.base_space.tunable]
        self.sort_by = W.Dropdown(options=cols, value=s.metric, description="sort by",
                                  layout=W.Layout(width="170px"))
        self.sort_by.add_class("hpo-sort-by")
        self.sort_desc = W.ToggleButton(value=not s.minimize, description="desc",
                                        layout=W.Layout(width="60px"))
        self.table = W.HTML(layout=W.Layout(max_height="230px", overflow="auto"))
        self.table.add_class("hpo-table")
        for w in (self.sort_by, self.sort_desc):
            w.observe(lambda _: self._now("table"), "value")
        self.table_box = W.VBox([W.HBox([W.HTML("<b>Top trials</b>"), self.sort_by,
                                         self.sort_desc]), self.table],
                                layout=W.Layout(flex="1 1 320px", min_width="300px"))
        self.table_box.add_class("hpo-table-box")

    # -- control callbacks ------------------------------------------------------------------
    def _safely(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
            self.message.value = ""
        except Exception as e:  # noqa: BLE001 - show it, never raise into the front end
            self.message.value = f"<span style='color:#dc2626'>{html.escape(str(e))}</span>"
        self._mark("header")
        self._wake.set()

    def _click_start(self, _: Any) -> None:
        self._safely(self.scan.start)

    def _click_pause(self, _: Any) -> None:
        if self.scan.status == "paused":
            self._safely(self.scan.resume)
        else:
            self._safely(self.scan.pause)
        self._update_header()   # answer the click at once, not at the next redraw

    def _pick_strategy(self, change: Any) -> None:
        if change["new"] != self.scan.strategy.name:
            self._safely(setattr, self.scan, "strategy", change["new"])

    def _set_max_trials(self, change: Any) -> None:
        v = change["new"] or None
        if v != self.scan.max_trials:
            self._safely(setattr, self.scan, "max_trials", v)

    def _param_brushed(self, change: Any) -> None:
        if change["new"] or self.param_brush is None:
            return  # still dragging
        sel = self.param_brush.selected
        if sel is None or len(sel) != 2:
            return
        lo, hi = sorted(float(v) for v in sel)
        self.space_editor.narrow_param(self.param_picker.value, lo, hi)

    def _parcoords_brushed(self, change: Any) -> None:
        old, new = change["old"] or {}, change["new"] or {}
        for name, rng in new.items():
            if name not in self.base_space or old.get(name) == rng:
                continue
            p = self.base_space[name]
            if isinstance(p, Choice):
                keep = [v for v in p.values if str(v) in {str(x) for x in rng}]
                if keep:
                    self.space_editor._set(self.scan.space.narrow(
                        **{name: keep if len(keep) > 1 else keep[0]}))
            else:
                self.space_editor.narrow_param(name, float(rng[0]), float(rng[1]))
        for name in old:
            if name not in new and name in self.base_space:
                self.space_editor.restore_param(name)

    # -- events (scan threads) --------------------------------------------------------------
    def _take(self, t: Any) -> None:
        if t.status == "running":
            self._running[t.id] = t
            return
        self._running.pop(t.id, None)
        if t.status == "finished" and t.value is not None and t.id not in self._seen:
            self._seen.add(t.id)
            worst = self._top[-1].value if len(self._top) >= self._keep_top else None
            better = (worst is None or (t.value < worst if self.scan.minimize
                                        else t.value > worst))
            if better:
                self._top.append(t)
                self._top.sort(key=lambda x: x.value if self.scan.minimize else -x.value)
                del self._top[self._keep_top:]
            coords = [cd.param_coord(self.base_space[n], t.params.get(n))
                      for n in self.series.names]
            self.series.append(t.id, float(t.value), coords)
            self._pending.append((t.id, coords, float(t.value)))

    def _mark(self, *parts: str) -> None:
        with self._lock:
            self._dirty.update(parts)

    def _on_event(self, event: ScanEvent) -> None:
        t0 = time.thread_time()
        kind = event.kind
        with self._lock:
            if kind == "trial_finished" and event.trial is not None:
                self._take(event.trial)
                self._live_curves.pop(event.trial.id, None)
                self._dirty.update(("header", "history", "param", "curves", "table",
                                    "parcoords"))
            elif kind == "trial_reported" and event.trial is not None:
                self._live_curves.setdefault(event.trial.id, []).append(
                    (float(event.step), float(event.value)))  # type: ignore[arg-type]
                self._dirty.add("curves")
            elif kind == "trial_started" and event.trial is not None:
                self._take(event.trial)
                self._dirty.add("header")
            elif kind == "space":
                self._dirty.add("space")
            else:   # status changes, and evaluate() adding columns to trials
                self._dirty.update(("header", "table"))
            self.stats["events"] += 1
        self._wake.set()
        self.stats["listener_s"] += time.thread_time() - t0

    def _refresher(self) -> None:
        last = 0.0
        while not self._closed:
            # charts held back by their slower cadence are due at a known time
            with self._lock:
                held = bool(self._dirty & _CHART_PARTS)
            timeout = None
            if held:
                timeout = max(0.05, self.chart_interval - (time.monotonic() - self._last_charts))
            self._wake.wait(timeout)
            if self._closed:
                return
            wait = self.min_interval - (time.monotonic() - last)
            if wait > 0:
                time.sleep(wait)   # coalesce a burst of events into one redraw
            self._wake.clear()
            last = time.monotonic()
            try:
                self.refresh()
            except Exception:
                log.exception("dashboard refresh failed")

    def _now(self, *parts: str) -> None:
        """A user asked for ``parts`` (picked a parameter, a sort): draw them at once."""
        with self._lock:
            self._dirty.update(parts)
            self._force = True
        self._wake.set()

    # -- drawing --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw what changed since the last redraw (called by the refresher thread).

        The header follows at up to ``max_fps``; the charts at most once every
        ``chart_interval`` seconds: a browser redraws an SVG scatter far more slowly than
        a label, and a page busy redrawing cannot answer the user's clicks.
        """
        t0 = time.thread_time()
        now = time.monotonic()
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            charts_due = (self._force or "all" in dirty
                          or now - self._last_charts >= self.chart_interval)
            self._force = False
            snapshot = None
            if charts_due:
                pending, self._pending = self._pending, []
                self._last_charts = now
                if "all" in dirty:
                    # rows for a full reset, taken with the pending list emptied under the
                    # same lock: a trial is then either in the reset or in a later append
                    snapshot = (self.series.ids.copy(), self.series.values.copy(),
                                self.series.scores.copy())
            else:
                pending = []
                self._dirty |= dirty & _CHART_PARTS
                dirty -= _CHART_PARTS
            live = {k: list(v) for k, v in self._live_curves.items()}
        every = "all" in dirty
        if every or "header" in dirty:
            self._update_header()
        if every or "space" in dirty:
            self.space_editor.show(self.scan.space)
        if every or "history" in dirty:
            info = cd.history_info(self.series, self.scan.minimize)
            with self.hist_points.hold_sync():
                self.hist_points.x, self.hist_points.y = info["x"], info["y"]
            with self.hist_best.hold_sync():
                self.hist_best.x, self.hist_best.y = info["best_x"], info["best_y"]
        if (every or "param" in dirty) and self.param_points is not None:
            info = cd.param_info(self.series, self.param_picker.value, self.scan.minimize)
            with self.param_points.hold_sync():
                self.param_points.x, self.param_points.y = info["x"], info["y"]
        if every or "curves" in dirty:
            with self._lock:
                running = list(self._running.values())
                top = list(self._top)
            info = cd.curves_info(running, top, live, self.scan.minimize)
            colors = ["#f58518" if k == "running" else "#4c78a8" for k in info["kinds"]]
            with self.curves.hold_sync():
                self.curves.x, self.curves.y = info["x"], info["y"]
                self.curves.colors = colors or ["#4c78a8"]
                self.curves.labels = info["labels"]
        if every or "table" in dirty:
            self._update_table()
        if self.parcoords is not None and pending and not every and charts_due:
            ids = np.array([p[0] for p in pending], dtype=np.int64)
            vals = np.array([p[1] for p in pending], dtype=float).reshape(len(pending), -1)
            self.parcoords.append(ids, vals, np.array([p[2] for p in pending]))
        elif self.parcoords is not None and snapshot is not None:
            self.parcoords.reset(*snapshot)
        self.stats["refreshes"] += 1
        self.stats["refresh_s"] += time.thread_time() - t0

    def _update_header(self) -> None:
        s = self.scan
        info = cd.progress_info(s)
        color = _STATUS_COLORS.get(info["status"], "#6b7280")
        self.title.value = (f"<b style='font-size:1.15em'>{html.escape(s.name)}</b>"
                            f"&nbsp;<span style='opacity:.7'>{html.escape(s.strategy.name)}, "
                            f"{s.mode} {html.escape(s.metric)}</span>&nbsp;")
        self.status.value = (f"<span style='background:{color};color:white;border-radius:8px;"
                             f"padding:1px 8px'>{info['status']}</span>&nbsp;")
        with self.progress.hold_sync():
            self.progress.max = max(int(info["total"]), 1)
            self.progress.value = min(info["done"], self.progress.max)
            self.progress.bar_style = {"failed": "danger", "finished": "success"}.get(
                info["status"], "info")
        self.progress_text.value = (
            f"&nbsp;{info['done']}/{s.max_trials if s.max_trials else '∞'} done · "
            f"{info['failed']} failed · {info['pruned']} pruned · {info['running']} running · "
            f"{cd.format_seconds(info['elapsed'])} elapsed · ETA "
            f"{cd.format_seconds(info['eta'])}")
        if info["best_value"] is None:
            self.best_html.value = "&nbsp;no finished trial yet"
        else:
            params = ", ".join(f"{k}={html.escape(_fmt(v))}"
                               for k, v in info["best_params"].items())
            self.best_html.value = (f"&nbsp;best {html.escape(s.metric)} <b>"
                                    f"{_fmt(info['best_value'])}</b> (#{info['best_id']}): "
                                    f"<span style='opacity:.8'>{params}</span>")
        msg = info["message"]
        if info["status"] in ("finished", "failed") and msg:
            self.message.value = f"<span style='opacity:.8'>{html.escape(msg)}</span>"
        st = info["status"]
        active = st in ("running", "paused", "stopping")
        full = s.max_trials is not None and info["done"] >= s.max_trials
        self.start_btn.disabled = active or s.objective is None or full
        self.start_btn.tooltip = ("raise max trials to continue" if full and not active
                                  else "start or continue the scan")
        self.start_btn.description = "Start" if not s.trials else "Continue"
        self.pause_btn.disabled = st not in ("running", "paused")
        self.pause_btn.description = "Resume" if st == "paused" else "Pause"
        self.pause_btn.icon = "play" if st == "paused" else "pause"
        self.stop_btn.disabled = st not in ("running", "paused")
        if self.strategy.value != s.strategy.name and s.strategy.name in self.strategy.options:
            self.strategy.value = s.strategy.name

    def _update_table(self) -> None:
        s = self.scan
        sort_by = self.sort_by.value
        # the top_k trials by score, ordered by the column the user picked
        with self._lock:
            # the latest record of each (evaluate() replaces trials with richer ones)
            self._top = [s.trial(t.id) or t for t in self._top]
            top = self._top[: self.top_k]
        rows = cd.top_rows(top, s.metric, s.minimize, self.top_k,
                           sort_by=None if sort_by == s.metric else sort_by,
                           ascending=not self.sort_desc.value)
        cols = ["trial", s.metric, *self.base_space.tunable, "duration"]
        cols += [c for c in cd.EVALUATION_COLUMNS if any(c in r for r in rows)]
        if any(r.get("flags") for r in rows):
            cols.append("flags")
        head = "".join(f"<th style='padding:2px 6px;text-align:right'>"
                       f"{html.escape(c + ' (s)' if c == 'duration' else c)}</th>" for c in cols)
        body = []
        best = s.best
        for r in rows:
            style = " style='font-weight:bold'" if best is not None and r["trial"] == best.id \
                else ""
            cells = "".join(
                f"<td style='padding:2px 6px;text-align:right'>"
                f"{html.escape(_fmt(r.get(c)) if c != 'duration' else cd.format_seconds(r.get(c)) if (r.get(c) or 0) >= 1 else _fmt(r.get(c)))}</td>"  # noqa: E501
                for c in cols)
            body.append(f"<tr{style}>{cells}</tr>")
        self.table.value = (f"<table style='border-collapse:collapse;font-size:12px'>"
                            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
                            "</table>" if rows else "<i>no finished trial yet</i>")

    def close(self) -> None:
        """Stop listening to the scan and close the widgets (the scan goes on)."""
        self._closed = True
        self._wake.set()
        self.scan.unsubscribe(self._on_event)
        with contextlib.suppress(Exception):
            self.close_all_children()
        super().close()

    def close_all_children(self) -> None:
        for w in (self.history_fig, self.param_fig, self.curves_fig, self.parcoords):
            if w is not None:
                w.close()
