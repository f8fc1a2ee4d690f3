"""The live dashboard of a scan: header, controls, space editor, charts, table.

The dashboard is a listener and a remote control: it hears the scan's events, and
its buttons and sliders call the scan's methods. It never touches the store.

Threads, and the one-writer rule
--------------------------------
ipywidgets takes no locks: two threads writing traits of one widget interleave their
messages to the browser. So exactly one thread writes the dashboard's widget state, the
dashboard's *refresher* (and, before it starts, the constructor). Everything else only
records what changed and wakes it:

- scan events arrive on the scan's threads; the listener (:meth:`Dashboard._on_event`)
  records the event's data and marks the parts it makes stale, O(1) per event;
- clicks, dropdowns and slider moves arrive on the kernel's main thread; their handlers
  call the scan (``scan.pause()``, ``scan.space = ...``) and mark parts dirty, never a
  widget.

The refresher redraws what is dirty at most ``max_fps`` times a second, each redraw
batched with ``hold_sync()``. When it moves a slider to show the scan's space, the
slider's observer fires on the refresher thread; a change seen on that thread is an echo
and is ignored, a change seen on any other thread is the user's and is applied. There is
no shared "quiet" flag, so an edit made during a redraw is never dropped. Nothing in the
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
from . import partner_data as pdata
from .honest_view import HonestView
from .partner import PartnerPanel

__all__ = ["Dashboard", "SpaceEditor"]

log = logging.getLogger("hpo_widgets")

_STATUS_COLORS = {"idle": "#6b7280", "running": "#16a34a", "paused": "#d97706",
                  "stopping": "#d97706", "stopped": "#6b7280", "finished": "#2563eb",
                  "failed": "#dc2626"}
_BEST = "#e4572e"
_RUNNING = "#f58518"
_POINT = "#4c78a8"
_SELECTED = "#d97706"
_USER = "#9333ea"      # trials the user enqueued
_BELIEF = "#3182bd"    # the surrogate's mean and band
_NEXT = "#16a34a"      # the point the strategy would try next
_CHART_PARTS = frozenset({"history", "param", "curves", "table", "parcoords"})


def _fmt(v: Any) -> str:
    return cd.format_value(v)


class _Echo:
    """Which thread is writing widgets right now, per thread (no shared flag).

    The writer marks its own thread while it moves controls; an observer that fires on
    that thread sees an echo of the write. A user's edit arrives on another thread and
    is never mistaken for one.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    @contextlib.contextmanager
    def writing(self) -> Any:
        self._local.on = getattr(self._local, "on", 0) + 1
        try:
            yield
        finally:
            self._local.on -= 1

    def __bool__(self) -> bool:
        return bool(getattr(self._local, "on", 0))


# Narrow containers (JupyterLab's side panel is ~250 px wide by default, Notebook 7's
# sidebar about as narrow): the same widget views stack and shrink instead of being cut
# off. A CSS container query decides per view, so the notebook's wide view and the
# panel's narrow view of one dashboard each get their own layout; ``!important`` is what
# beats the widgets' inline sizes. In a side panel the dashboard fills the panel's
# height: the top (header and controls) stays put and the body is the one column that
# scrolls; no inner box scrolls on its own.
COMPACT_BELOW_PX = 640
_STYLE = f"""<style>
.hpo-dashboard {{ container-type: inline-size; container-name: hpo-dash; }}
.hpo-dashboard .widget-box, .hpo-dashboard .widget-hbox, .hpo-dashboard .widget-vbox {{
  overflow: visible; }}
.hpo-dashboard .hpo-top, .hpo-dashboard .hpo-header, .hpo-dashboard .hpo-controls {{
  flex: 0 0 auto !important; overflow: visible !important; }}
.hpo-dashboard .hpo-title {{ min-width: 0; max-width: 100%; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }}
.hpo-dashboard button:disabled {{ opacity: .4 !important; filter: grayscale(1);
  box-shadow: none !important; cursor: not-allowed; }}
.hpo-dashboard .hpo-caption {{ font-size: 11px; line-height: 14px; opacity: .85;
  margin: -4px 0 4px 0; padding-left: 12px; box-sizing: border-box; }}
.hpo-dashboard .hpo-chart-history text, .hpo-dashboard .hpo-chart-param text,
.hpo-dashboard .hpo-chart-curves text {{ paint-order: stroke;
  stroke: var(--jp-layout-color0, #fff); stroke-width: 3px; stroke-linejoin: round; }}
.hpo-dashboard .hpo-trial-output pre {{ max-height: 260px; overflow: auto; font-size: 11px;
  margin: 2px 0; white-space: pre-wrap; }}
.hpo-side-panel {{ overflow: hidden !important; display: flex !important;
  flex-direction: column !important; }}
.hpo-side-panel > .hpo-dashboard {{ flex: 1 1 auto !important; min-height: 0 !important;
  height: 100% !important; overflow: hidden !important; border: none !important;
  box-sizing: border-box; }}
.hpo-side-panel .hpo-dashboard > .hpo-body {{ flex: 1 1 auto !important; min-height: 0 !important;
  overflow-y: auto !important; overflow-x: hidden !important; }}
.hpo-side-panel .hpo-dashboard .hpo-table {{ max-height: none !important;
  overflow: visible !important; }}
@container hpo-dash (max-width: {COMPACT_BELOW_PX}px) {{
  .hpo-dashboard .hpo-body {{ flex-flow: column nowrap !important; }}
  .hpo-dashboard .hpo-space, .hpo-dashboard .hpo-charts {{ width: 100% !important;
      flex: 0 0 auto !important; }}
  .hpo-dashboard .hpo-param {{ flex-wrap: wrap !important; }}
  .hpo-dashboard .hpo-param .hpo-label {{ width: 100% !important; }}
  .hpo-dashboard .hpo-param .hpo-range {{ width: auto !important; flex: 1 1 120px !important;
                                          min-width: 80px !important; }}
  .hpo-dashboard .hpo-param .hpo-readout {{ width: auto !important; flex: 1 1 auto !important; }}
  .hpo-dashboard .hpo-history-box, .hpo-dashboard .hpo-curves-box,
  .hpo-dashboard .hpo-param-box, .hpo-dashboard .hpo-table-box {{
      min-width: 0 !important; flex: 0 0 auto !important; width: 100% !important; }}
  .hpo-dashboard .hpo-header .hpo-progress {{ width: 100% !important; height: 8px !important; }}
  .hpo-dashboard .hpo-header .hpo-progress .progress {{ height: 8px !important; }}
  .hpo-dashboard .hpo-header .hpo-details {{ display: none !important; }}
  .hpo-dashboard .mainheading {{ font-size: 11px !important; }}
  .hpo-dashboard .hpo-controls button {{ flex: 1 1 0 !important; min-width: 0 !important;
      width: auto !important; padding: 0 4px !important; }}
  .hpo-dashboard .hpo-controls button i {{ display: none; }}  /* room for "Continue" */
  .hpo-dashboard .hpo-controls .hpo-strategy, .hpo-dashboard .hpo-controls .hpo-max-trials {{
      flex: 1 1 100% !important; width: 100% !important; }}
  .hpo-dashboard .hpo-controls .widget-label {{ width: 72px !important; }}
  .hpo-dashboard .hpo-table table {{ width: 100%; table-layout: fixed; font-size: 10px !important;
      overflow-wrap: anywhere; }}
  .hpo-dashboard .hpo-table th, .hpo-dashboard .hpo-table td {{ padding: 1px 2px !important; }}
  .hpo-dashboard .hpo-param-picker, .hpo-dashboard .hpo-narrow-top,
  .hpo-dashboard .hpo-trial-pick {{ width: auto !important; max-width: 100% !important; }}
  .hpo-dashboard .hpo-partner, .hpo-dashboard .hpo-partner .widget-box {{
      min-width: 0 !important; width: 100% !important; flex: 0 0 auto !important; }}
  .hpo-dashboard .hpo-partner .widget-text, .hpo-dashboard .hpo-partner .widget-dropdown {{
      width: 100% !important; max-width: 100% !important; }}
  .hpo-dashboard .hpo-partner .widget-text input,
  .hpo-dashboard .hpo-partner .widget-dropdown select {{ min-width: 0 !important; }}
}}
</style>"""


# -- space editor ---------------------------------------------------------------------
class _ParamRow:
    """One parameter's controls: a range slider or value toggles, and a 'fix' toggle."""

    def __init__(self, name: str, base: Param, on_change: Any, echo: _Echo) -> None:
        self.name, self.base, self._on_change, self._echo = name, base, on_change, echo
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

    def _changed(self, change: Any) -> None:
        if not self._echo:   # the writer moving the controls is not an edit
            self._on_change(self, change)

    # slider position <-> Param
    def param(self, best_value: Any, change: Any = None, current: Param | None = None) -> Param:
        """The parameter after the user's edit ``change`` of one control.

        The edit is taken from the change itself and applied to ``current`` (the scan's
        parameter now), not read back from the other controls: the writer may be moving
        those at this very moment to show an older space. Without a change, the controls
        as they stand.
        """
        b = self.base
        if isinstance(b, Fixed):
            return b
        owner = None if change is None else change["owner"]
        fixing = change["new"] if owner is self.fix else self.fix.value
        if fixing:
            if self.fixed_value is None:
                self.fixed_value = best_value if best_value is not None else b.decode(0.5)
            return Fixed(self.fixed_value)
        self.fixed_value = None
        if isinstance(b, Choice):
            if owner in self._toggles and current is not None:
                on = {i for i, v in enumerate(b.values) if current.contains(v)}
                i = self._toggles.index(owner)
                (on.add if change["new"] else on.discard)(i)
                keep = [b.values[i] for i in sorted(on)]
            else:
                keep = [v for v, t in zip(b.values, self._toggles, strict=True) if t.value]
            if not keep:
                raise ValueError(f"{self.name}: keep at least one value")
            return b if len(keep) == len(b.values) else (
                b.narrow(keep) if len(keep) > 1 else Fixed(keep[0]))
        c = self.control
        value = change["new"] if owner is c else c.value
        if isinstance(b, Float | Int) and b.log and not isinstance(c, W.SelectionRangeSlider):
            lo, hi = 10 ** value[0], 10 ** value[1]
        else:
            lo, hi = value
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
        """Move the controls to show ``p`` (from the scan), without echoing back.

        Called by the dashboard's one writer only (see the module docstring).
        """
        with self._echo.writing():
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
    """Sliders and toggles over a scan's space; edits apply to trials not yet started.

    An edit changes ``scan.space`` at once (on the thread that delivered it); the
    controls are moved to show the scan's space only by :meth:`show`, which the
    dashboard's refresher calls. ``on_dirty(part)`` asks the writer to redraw ``part``
    (``"space"`` or ``"note"``); without one (an editor used on its own) the editor
    redraws itself on the calling thread.
    """

    def __init__(self, scan: Scan, base: Space | None = None, on_dirty: Any = None) -> None:
        self.scan = scan
        self.base = base or scan.space
        self._echo = _Echo()
        self._on_dirty = on_dirty
        self._note_text = ""
        # Reading one row's controls while the writer moves them would read a half-moved
        # range: a row is read and written under this lock (the writer holds it briefly,
        # per row, so an edit waits at most one row's redraw, and is never dropped).
        self._lock = threading.RLock()
        self.rows = {n: _ParamRow(n, p, self._edited, self._echo)
                     for n, p in self.base.items()}
        self.note = W.HTML()
        self.note.add_class("hpo-space-note")
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
                          W.HBox([self.narrow_top, self.reset],
                                 layout=W.Layout(flex_flow="row wrap")), self.note],
                         layout=W.Layout(width="430px", flex="0 0 auto"))
        self.add_class("hpo-space")
        self.show(scan.space)

    def _dirty(self, part: str) -> None:
        if self._on_dirty is not None:
            self._on_dirty(part)
        elif part == "space":
            self.show(self.scan.space)
        else:
            self.show_note()

    def _say(self, text: str) -> None:
        self._note_text = text
        self._dirty("note")

    def _best_value(self, name: str) -> Any:
        best = self.scan.best
        return None if best is None else best.params.get(name)

    def _edited(self, row: _ParamRow, change: Any = None) -> None:
        # Only the edit itself is read, applied to the scan's space: the controls may be
        # mid-redraw and show an older space.
        with self._lock:
            space = self.scan.space
            try:
                param = row.param(self._best_value(row.name), change,
                                  space.get(row.name))
            except ValueError as e:
                self._say(f"<span style='color:#dc2626'>{html.escape(str(e))}</span>")
                self._dirty("space")   # put the controls back to what the scan has
                return
            self._set(space.narrow(**{row.name: param}))

    def _set(self, space: Space) -> None:
        try:
            self.scan.space = space
            self._say("")
        except (TypeError, ValueError) as e:
            self._say(f"<span style='color:#dc2626'>{html.escape(str(e))}</span>")
        self._dirty("space")

    def apply_top_fraction(self, fraction: float = 0.1) -> None:
        """Narrow every range to where the best ``fraction`` of trials lie."""
        ranges = cd.top_fraction_ranges(self.scan.trials, self.base, self.scan.minimize,
                                        fraction)
        if not ranges:
            self._say("Not enough finished trials to narrow yet.")
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

    def narrow_choice(self, name: str, labels: Any) -> None:
        """Keep the values of choice ``name`` whose labels are in ``labels``."""
        p = self.base[name]
        assert isinstance(p, Choice)
        wanted = {str(x) for x in labels}
        keep = [v for v in p.values if _fmt(v) in wanted or str(v) in wanted]
        if keep:
            self._set(self.scan.space.narrow(**{name: keep if len(keep) > 1 else keep[0]}))

    def restore_param(self, name: str) -> None:
        self._set(self.scan.space.narrow(**{name: self.base[name]}))

    def show(self, space: Space) -> None:
        """Move every control to show ``space`` (the writer's job; see the module doc)."""
        for n, row in self.rows.items():
            if n in space:
                with self._lock:
                    row.show(space[n])

    def show_note(self) -> None:
        if self.note.value != self._note_text:
            self.note.value = self._note_text


# -- the dashboard ----------------------------------------------------------------------
def _caption(cls: str) -> W.HTML:
    w = W.HTML(layout=W.Layout(width="100%"))
    w.add_class("hpo-caption")
    w.add_class(cls)
    return w


def _swatch(color: str, text: str, mark: str = "━") -> str:
    return (f"<span style='white-space:nowrap'><b style='color:{color}'>{mark}</b>&nbsp;"
            f"{html.escape(text)}</span>")


class Dashboard(W.VBox):
    """The live dashboard of a scan (what displaying a ``Scan`` shows).

    >>> scan = hw.Scan(objective, space)            # doctest: +SKIP
    >>> scan.start(); scan.dashboard()              # doctest: +SKIP

    Widget state is written by one thread only, the dashboard's refresher (see the
    module docstring); the listener and the handlers mark parts dirty (:meth:`_on_event`,
    :meth:`_now`) and wake it.
    """

    def __init__(self, scan: Scan, max_fps: float = 4.0, chart_interval: float = 1.0,
                 top_k: int = 10) -> None:
        self.scan = scan
        self.min_interval = 1.0 / max_fps
        self.chart_interval = chart_interval
        self._last_charts = 0.0
        self._force = False
        self._urgent = False
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
        self._user_ids: set[int] = set()    # finished trials the user enqueued
        self._excluded_ids: set[int] = set()  # trials left out of learning: never "best"
        self._dirty: set[str] = {"all"}
        self._pending: list[Any] = []
        self._note = ""                     # what the last button press answered
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._echo = _Echo()                # set while the writer moves a control
        self._closed = False
        self._axes: dict[str, Any] = {}     # last ticks/format given to each axis
        self.stats = {"listener_s": 0.0, "refresh_s": 0.0, "refreshes": 0, "events": 0}

        self._build_header()
        self._build_controls()
        self.space_editor = SpaceEditor(scan, self.base_space, on_dirty=self._now)
        self._build_charts()
        self.honest_view = HonestView(scan, self.hist_points.scales,   # issue 13
                                      on_luck=lambda: self._now("table", "history"))
        self.history_fig.marks = [self.honest_view.bars, *self.history_fig.marks]
        self._build_table()
        self.partner = PartnerPanel(scan, on_dirty=self._now)
        row = W.Layout(width="100%", flex_flow="row wrap")
        charts = W.VBox([W.HBox([self.history_box, self.param_box], layout=row),
                         *([self.parcoords] if self.parcoords is not None else []),
                         W.HBox([self.curves_box, self.table_box], layout=row),
                         W.HBox([self.partner], layout=row)],
                        layout=W.Layout(flex="1 1 600px", min_width="0"))
        charts.add_class("hpo-charts")
        # side by side on wide screens; the charts wrap below the sliders on narrow ones
        self.body = W.Box([self.space_editor, charts],
                          layout=W.Layout(align_items="flex-start", flex_flow="row wrap"))
        self.body.add_class("hpo-body")
        self.top = W.VBox([self.header, self.controls])
        self.top.add_class("hpo-top")
        style = W.HTML(_STYLE, layout=W.Layout(display="none"))
        super().__init__([style, self.top, self.body],
                         layout=W.Layout(border="1px solid var(--jp-border-color2, #ddd)",
                                         padding="6px"))
        self.add_class("hpo-dashboard")

        with self._lock:
            scan.subscribe(self._on_event)   # under the lock: no event slips between
            for t in scan.trials:             # the catch-up and the subscription
                self._take(t)
        self.refresh()   # the first state, written before the refresher exists
        self._thread = threading.Thread(target=self._refresher, daemon=True,
                                        name=f"hpo-dashboard-{scan.name}")
        self._thread.start()
        self._now("partner")   # its first computation on the refresher, not in this cell

    # -- parts --------------------------------------------------------------------------
    def _build_header(self) -> None:
        self.title = W.HTML(layout=W.Layout(width="100%"))
        self.title.add_class("hpo-title")
        self.status = W.HTML()
        self.status.add_class("hpo-status")
        self.progress_text = W.HTML()
        self.progress_text.add_class("hpo-progress-text")
        self.best_html = W.HTML(layout=W.Layout(flex="0 1 auto", min_width="0"))
        self.best_html.add_class("hpo-best")
        self.progress = W.IntProgress(min=0, max=1, value=0, layout=W.Layout(width="170px"))
        self.progress.add_class("hpo-progress")
        self.details = W.HTML(layout=W.Layout(flex="1 1 auto", min_width="0"))
        self.details.add_class("hpo-details")
        self.message = W.HTML(layout=W.Layout(width="100%"))
        self.message.add_class("hpo-message")
        line = W.HBox([self.status, self.progress_text, self.best_html],
                      layout=W.Layout(align_items="center", flex_flow="row wrap"))
        line.add_class("hpo-summary")
        self.header = W.VBox([self.title, line,
                              W.HBox([self.progress, self.details],
                                     layout=W.Layout(align_items="center",
                                                     flex_flow="row wrap")),
                              self.message])
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
        self.start_btn.on_click(self._click_start)
        self.pause_btn.on_click(self._click_pause)
        self.stop_btn.on_click(lambda _: self._act(self.scan.stop))
        self.strategy.observe(self._pick_strategy, "value")
        self.max_trials.observe(self._set_max_trials, "value")
        buttons = W.HBox([self.start_btn, self.pause_btn, self.stop_btn],
                         layout=W.Layout(flex="0 1 auto", min_width="0"))
        buttons.add_class("hpo-buttons")
        self.controls = W.HBox([buttons, self.strategy, self.max_trials],
                               layout=W.Layout(align_items="center", flex_flow="row wrap"))
        self.controls.add_class("hpo-controls")

    def _figure(self, cls: str, **kw: Any) -> bq.Figure:
        fig = bq.Figure(fig_margin={"top": 30, "bottom": 40, "left": 62, "right": 16},
                        layout=W.Layout(width="100%", height="250px"),
                        animation_duration=0, **kw)
        fig.add_class(cls)
        return fig

    def _build_charts(self) -> None:
        s = self.scan
        box = W.Layout(flex="1 1 320px", min_width="300px")
        # score per trial + best so far; domains and ticks are set at every redraw
        hx, hy = bq.LinearScale(min=-0.5, max=0.5), bq.LinearScale(min=0.0, max=1.0)
        self.hist_points = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": hx, "y": hy},
                                      colors=[_POINT], default_size=14, opacities=[0.6])
        self.hist_best = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": hx, "y": hy},
                                  colors=[_BEST], stroke_width=2, interpolation="step-after")
        self.hist_user = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": hx, "y": hy},
                                    colors=[_USER], default_size=40, marker="square",
                                    fill=False, stroke_width=2)
        self.hist_xaxis = bq.Axis(scale=hx, label="trial", tick_format="d",
                                  tick_values=np.array([0.0]))
        self.hist_yaxis = bq.Axis(scale=hy, orientation="vertical", label=s.metric,
                                  tick_format=".1f", label_offset="46px",
                                  tick_values=cd.nice_ticks(0.0, 1.0))
        self.history_fig = self._figure("hpo-chart-history",
                                        marks=[self.hist_points, self.hist_best,
                                               self.hist_user],
                                        axes=[self.hist_xaxis, self.hist_yaxis],
                                        title=f"{s.metric} per trial")
        self.hist_caption = _caption("hpo-history-caption")
        self.history_box = W.VBox([self.history_fig, self.hist_caption], layout=box)
        self.history_box.add_class("hpo-history-box")
        # one parameter against the score, with a brush that narrows it
        names = self.base_space.tunable
        self.param_picker = W.Dropdown(options=names, value=names[0] if names else None,
                                       description="parameter", layout=W.Layout(width="240px"))
        self.param_picker.add_class("hpo-param-picker")
        self.param_fig = self._figure("hpo-chart-param")
        self.param_points: bq.Scatter | None = None
        self.param_brush: Any = None
        self._param_name: str | None = None
        self._param_scales: tuple[Any, Any] | None = None
        self.param_caption = _caption("hpo-param-caption")
        self.param_picker.observe(lambda _: self._now("param_setup", "param"), "value")
        self.param_box = W.VBox([self.param_picker, self.param_fig, self.param_caption],
                                layout=box)
        self.param_box.add_class("hpo-param-box")
        if names:
            self._setup_param_chart()
        # learning curves
        cx, cy = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0)
        self.curves = bq.Lines(x=np.zeros((0, 0)), y=np.zeros((0, 0)),
                               scales={"x": cx, "y": cy}, stroke_width=1.5)
        self.curves_xaxis = bq.Axis(scale=cx, label="step", tick_format="d",
                                    tick_values=np.array([0.0, 1.0]))
        self.curves_yaxis = bq.Axis(scale=cy, orientation="vertical", label="reported",
                                    tick_format=".1f", label_offset="46px",
                                  tick_values=cd.nice_ticks(0.0, 1.0))
        self.curves_fig = self._figure("hpo-chart-curves", marks=[self.curves],
                                       axes=[self.curves_xaxis, self.curves_yaxis],
                                       title="learning curves")
        self.curves_caption = _caption("hpo-curves-caption")
        self.curves_box = W.VBox([self.curves_fig, self.curves_caption], layout=box)
        self.curves_box.add_class("hpo-curves-box")
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
        """New scales, marks and brush for the picked parameter (the writer's job)."""
        name = self.param_picker.value
        p = self.base_space[name]
        ax = cd.param_axis(p)
        lo, hi = float(ax["min"]), float(ax["max"])
        if ax["kind"] == "log":
            xs = bq.LogScale()
            pad = (math.log10(hi) - math.log10(lo)) * 0.04
            xs.min, xs.max = 10 ** (math.log10(lo) - pad), 10 ** (math.log10(hi) + pad)
        else:
            xs = bq.LinearScale()
            pad = 0.0 if ax["kind"] == "choice" else (hi - lo) * 0.04
            xs.min, xs.max = lo - pad, hi + pad
        ys = bq.LinearScale(min=0.0, max=1.0)
        if ax["kind"] == "log":   # one tick per decade; d3's log ticks crowd at the top
            xaxis = bq.Axis(scale=xs, label=name, tick_format=".0e")
            a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
            step = max(1, (b - a) // 5)
            xaxis.tick_values = np.array([10.0 ** k for k in range(a, b + 1, step)
                                          if lo <= 10.0 ** k * 1.0000001
                                          and 10.0 ** k <= hi * 1.0000001])
        elif ax["kind"] == "choice":
            xaxis = bq.Axis(scale=xs, label=name,
                            tick_values=np.arange(len(ax["labels"]), dtype=float),
                            tick_labels={float(i): lab for i, lab in enumerate(ax["labels"])})
        elif ax["kind"] == "int":
            xaxis = bq.Axis(scale=xs, label=name, tick_format="d",
                            tick_values=cd.integer_ticks(lo, hi))
        else:
            xaxis = bq.Axis(scale=xs, label=name, tick_format=cd.tick_format(lo, hi),
                            tick_values=cd.nice_ticks(lo, hi))
        points = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys},
                            colors=[_POINT], default_size=14, opacities=[0.6],
                            selected_style={"opacity": 1.0, "fill": _SELECTED,
                                            "stroke": "#7c2d12"},
                            unselected_style={"opacity": 0.2})
        # the machine's belief along this parameter, and the trials the user enqueued
        self.band_fill = bq.Lines(x=np.zeros(0), y=np.zeros((2, 0)), scales={"x": xs, "y": ys},
                                  fill="between", colors=[_BELIEF, _BELIEF],
                                  fill_colors=[_BELIEF], fill_opacities=[0.18],
                                  opacities=[0.0, 0.0], stroke_width=0)
        self.band_mean = bq.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys},
                                  colors=[_BELIEF], stroke_width=2)
        self.band_next = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys},
                                    colors=[_NEXT], default_size=120, marker="diamond")
        self.param_user = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales={"x": xs, "y": ys},
                                     colors=[_USER], default_size=40, marker="square",
                                     fill=False, stroke_width=2)
        self.partner_force()
        brush = bq.interacts.BrushIntervalSelector(scale=xs, marks=[points], color=_SELECTED)
        # bound to this parameter: a brush on the chart of the previous pick narrows that one
        brush.observe(lambda change, name=name, brush=brush:
                      self._param_brushed(change, name, brush), "brushing")
        yaxis = bq.Axis(scale=ys, orientation="vertical", label=self.scan.metric,
                        tick_format=".1f", label_offset="46px",
                                  tick_values=cd.nice_ticks(0.0, 1.0))
        with self.param_fig.hold_sync():
            self.param_fig.marks = [self.band_fill, self.band_mean, points, self.param_user,
                                    self.band_next]
            self.param_fig.axes = [xaxis, yaxis]
            self.param_fig.interaction = brush
            self.param_fig.title = f"{self.scan.metric} vs {name}"
        self.param_points, self.param_brush, self._param_name = points, brush, name
        self._param_scales = (xs, ys)
        self._param_yaxis = yaxis
        self._axes.pop("param_y", None)

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
        # one trial in full: parameters, error, and the output it printed (the notebook
        # never shows a trial's output; this is where it is read)
        self.trial_pick = W.BoundedIntText(value=0, min=0, max=10**9, description="trial #",
                                           layout=W.Layout(width="170px"))
        self.trial_pick.add_class("hpo-trial-pick")
        self.trial_show = W.ToggleButton(value=False, description="show",
                                         tooltip="parameters, error and captured output",
                                         icon="file-text-o", layout=W.Layout(width="80px"))
        self.trial_show.add_class("hpo-trial-show")
        self.trial_out = W.HTML()
        self.trial_out.add_class("hpo-trial-output")
        for w in (self.trial_pick, self.trial_show):
            w.observe(lambda _: self._now("trial_view"), "value")
        self.table_box = W.VBox([W.HBox([W.HTML("<b>Top trials</b>"), self.sort_by,
                                         self.sort_desc],
                                        layout=W.Layout(flex_flow="row wrap")),
                                 self.table,
                                 W.HBox([self.trial_pick, self.trial_show],
                                        layout=W.Layout(flex_flow="row wrap")),
                                 self.trial_out],
                                layout=W.Layout(flex="1 1 320px", min_width="300px"))
        self.table_box.add_class("hpo-table-box")

    # -- control callbacks (kernel main thread: call the scan, mark dirty, write nothing) --
    def _act(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
            note = ""
        except Exception as e:  # noqa: BLE001 - show it, never raise into the front end
            note = f"<span style='color:#dc2626'>{html.escape(str(e))}</span>"
        with self._lock:
            self._note = note
        self._now("header")

    def _click_start(self, _: Any) -> None:
        self._act(self.scan.start)

    def _click_pause(self, _: Any) -> None:
        self._act(self.scan.resume if self.scan.status == "paused" else self.scan.pause)

    def _pick_strategy(self, change: Any) -> None:
        if not self._echo and change["new"] != self.scan.strategy.name:
            self._act(setattr, self.scan, "strategy", change["new"])

    def _set_max_trials(self, change: Any) -> None:
        v = change["new"] or None
        if not self._echo and v != self.scan.max_trials:
            self._act(setattr, self.scan, "max_trials", v)

    def _param_brushed(self, change: Any, name: str, brush: Any) -> None:
        if change["new"]:
            return  # still dragging
        sel = brush.selected
        if sel is None or len(sel) != 2:
            return
        lo, hi = sorted(float(v) for v in sel)
        self.space_editor.narrow_param(name, lo, hi)

    def _parcoords_brushed(self, change: Any) -> None:
        old, new = change["old"] or {}, change["new"] or {}
        for name, rng in new.items():
            if name not in self.base_space or old.get(name) == rng:
                continue
            if isinstance(self.base_space[name], Choice):
                self.space_editor.narrow_choice(name, rng)
            else:
                self.space_editor.narrow_param(name, float(rng[0]), float(rng[1]))
        for name in old:
            if name not in new and name in self.base_space:
                self.space_editor.restore_param(name)

    # -- events (scan threads: record, mark dirty, wake the writer) ----------------------------
    def partner_force(self) -> None:
        """Recompute the partner views at the next redraw (the trials learnt from changed)."""
        partner = getattr(self, "partner", None)
        if partner is not None:
            partner.invalidate()

    def _take(self, t: Any) -> None:
        if t.excluded is not None:
            self._excluded_ids.add(t.id)
        if t.source == "user" and t.status == "finished":
            self._user_ids.add(t.id)
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
            params = t.params
            coords = [cd.param_coord(self.base_space[n], params.get(n))
                      for n in self.series.names]
            self.series.append(t.id, float(t.value), coords)
            self._pending.append((t.id, coords, float(t.value)))

    def _on_event(self, event: ScanEvent) -> None:
        t0 = time.thread_time()
        kind = event.kind
        with self._lock:
            if kind == "trial_finished" and event.trial is not None:
                self._take(event.trial)
                self._live_curves.pop(event.trial.id, None)
                self._dirty.update(("header", "history", "param", "curves", "table",
                                    "parcoords", "trial_view"))
            elif kind == "trial_reported" and event.trial is not None:
                self._live_curves.setdefault(event.trial.id, []).append(
                    (float(event.step), float(event.value)))  # type: ignore[arg-type]
                self._dirty.add("curves")
            elif kind == "trial_started" and event.trial is not None:
                self._take(event.trial)
                self._dirty.update(("header", "curves"))
            elif kind == "space":
                self._dirty.add("space")
            elif kind == "trial_excluded":
                if event.trial is not None:   # excluded, or included again
                    if event.trial.excluded is None:
                        self._excluded_ids.discard(event.trial.id)
                    else:
                        self._excluded_ids.add(event.trial.id)
                self.partner_force()
                self._dirty.update(("header", "history", "table", "partner"))
            else:   # status changes, max_trials, and evaluate() adding columns to trials
                self._dirty.update(("header", "table"))
            self.stats["events"] += 1
        self._wake.set()
        self.stats["listener_s"] += time.thread_time() - t0

    def _now(self, *parts: str) -> None:
        """The user asked for ``parts`` (a click, a pick, a sort): draw them at once."""
        with self._lock:
            self._dirty.update(parts)
            self._urgent = True               # no coalescing wait for this redraw...
            if _CHART_PARTS.intersection(parts) or "param_setup" in parts:
                self._force = True            # ...and charts now only when asked for
        self._wake.set()

    # -- the writer ---------------------------------------------------------------------------
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
            with self._lock:
                urgent, self._urgent = self._urgent, False
            wait = self.min_interval - (time.monotonic() - last)
            if wait > 0 and not urgent:
                time.sleep(wait)   # coalesce a burst of events into one redraw
            self._wake.clear()
            last = time.monotonic()
            try:
                self.refresh()
            except Exception:
                log.exception("dashboard refresh failed")

    def refresh(self) -> None:
        """Redraw what changed since the last redraw (the refresher thread calls this).

        The header follows at up to ``max_fps``; the charts at most once every
        ``chart_interval`` seconds: a browser redraws an SVG scatter far more slowly than
        a label, and a page busy redrawing cannot answer the user's clicks.
        """
        with self._echo.writing():
            self._refresh()

    def _refresh(self) -> None:
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
            note = self._note
        every = "all" in dirty
        if every or "header" in dirty or "note" in dirty:
            self._update_header(note)
        if every or "space" in dirty or "note" in dirty:
            self.space_editor.show_note()
        if (every or "param_setup" in dirty) and self._param_name != self.param_picker.value \
                and self.param_picker.value is not None:
            self._setup_param_chart()
            dirty.add("param")
        if every or "space" in dirty:
            self.space_editor.show(self.scan.space)
            self._show_param_brush()
        if every or "history" in dirty:
            self._draw_history()
        if (every or "param" in dirty) and self.param_points is not None:
            self._draw_param()
        if (every or "history" in dirty or "param" in dirty) and self._user_ids:
            self._user_marks()
        if every or "curves" in dirty:
            self._draw_curves(live)
        if every or "table" in dirty:
            self._update_table()
        if every or "trial_view" in dirty:
            self._update_trial_view()
        if every or "partner" in dirty or "try" in dirty or charts_due:
            self._draw_partner(every or "partner" in dirty or charts_due,
                               every or "partner" in dirty)
        if self.parcoords is not None and pending and not every and charts_due:
            ids = np.array([p[0] for p in pending], dtype=np.int64)
            vals = np.array([p[1] for p in pending], dtype=float).reshape(len(pending), -1)
            self.parcoords.append(ids, vals, np.array([p[2] for p in pending]))
        elif self.parcoords is not None and snapshot is not None:
            self.parcoords.reset(*snapshot)
        self.stats["refreshes"] += 1
        self.stats["refresh_s"] += time.thread_time() - t0

    def _set_axis(self, key: str, axis: Any, scale: Any, lo: float, hi: float,
                  integer: bool = False) -> None:
        """Domain, ticks and format of one axis; traits are sent only when they change."""
        # explicit ticks: bqplot spaces ``num_ticks`` evenly over the domain (ticks at
        # -9, 16, 40...), and its own guesses mix formats
        if integer:
            spec: tuple[Any, ...] = (lo, hi, "d", tuple(cd.integer_ticks(lo, hi)))
        else:
            spec = (lo, hi, cd.tick_format(lo, hi), tuple(cd.nice_ticks(lo, hi)))
        if self._axes.get(key) == spec:
            return
        self._axes[key] = spec
        with scale.hold_sync():
            scale.min, scale.max = float(lo), float(hi)
        with axis.hold_sync():
            axis.tick_format = spec[2]
            axis.tick_values = np.asarray(spec[3], dtype=float)

    def _draw_history(self) -> None:
        with self._lock:
            excluded = list(self._excluded_ids)
        info = cd.history_info(self.series, self.scan.minimize, excluded=excluded)
        n = int(info["n"])
        if n:
            ids = self.series.ids
            x_lo, x_hi = float(ids.min()) - 0.5, float(ids.max()) + 0.5
            self._set_axis("hist_x", self.hist_xaxis, self.hist_points.scales["x"],
                           x_lo, max(x_hi, x_lo + 1), integer=True)
            y_lo, y_hi = cd.value_domain(info["y"])
            self._set_axis("hist_y", self.hist_yaxis, self.hist_points.scales["y"], y_lo, y_hi)
        with self.hist_points.hold_sync():
            self.hist_points.x, self.hist_points.y = info["x"], info["y"]
        with self.hist_best.hold_sync():
            self.hist_best.x, self.hist_best.y = info["best_x"], info["best_y"]
        self.honest_view.draw_bars()
        caption = (_swatch(_POINT, "a finished trial", "●") + " &nbsp; "
                   + _swatch(_BEST, "best so far") if n else
                   "<i>no finished trial yet: a dot per trial appears here</i>")
        if self.hist_caption.value != caption:
            self.hist_caption.value = caption

    def _draw_param(self) -> None:
        name = self._param_name
        info = cd.param_info(self.series, name, self.scan.minimize)
        assert self._param_scales is not None and self.param_points is not None
        if len(info["y"]):
            lo, hi = cd.value_domain(info["y"])
            self._set_axis("param_y", self._param_yaxis, self._param_scales[1], lo, hi)
        with self.param_points.hold_sync():
            self.param_points.x, self.param_points.y = info["x"], info["y"]
        caption = (f"drag across the chart to narrow <b>{html.escape(str(name))}</b> "
                   "(applies to new trials)" if len(info["y"]) else
                   "<i>no finished trial yet</i>")
        if self.param_caption.value != caption:
            self.param_caption.value = caption

    def _draw_partner(self, compute: bool, redraw: bool = False) -> None:
        """Importance, the proposal, the belief band and the user's marks (writer only):
        recomputed when ``compute`` and the schedule says so, redrawn then or when
        ``redraw`` (a click changed what is shown)."""
        with self._lock:
            top = self._top[: self.top_k]
        # the expensive part only on the refresher thread: displaying a dashboard of a big
        # scan must not wait for a forest and a Gaussian process
        on_refresher = getattr(self, "_thread", None) is threading.current_thread()
        computed = compute and on_refresher and self.partner.compute(self._param_name)
        if computed or redraw:
            self.partner.draw(top, self.scan.metric)
            self._draw_belief()
        else:
            self.partner.draw_try(top, self.scan.metric)

    def _draw_belief(self) -> None:
        band = self.partner.band
        if band is None or band["param"] != self._param_name or self.param_points is None:
            x, mean, fill = np.zeros(0), np.zeros(0), np.zeros((2, 0))
            nx, ny = np.zeros(0), np.zeros(0)
        else:
            x, mean, fill = band["x"], band["mean"], band["band"]
            nx, ny = band["next_x"], band["next_y"]
        with self.band_fill.hold_sync():
            self.band_fill.x, self.band_fill.y = x, fill
        with self.band_mean.hold_sync():
            self.band_mean.x, self.band_mean.y = x, mean
        with self.band_next.hold_sync():
            self.band_next.x, self.band_next.y = nx, ny

    def _user_marks(self) -> None:
        """Square outlines on the trials the user enqueued (history and param charts)."""
        ids, scores = self.series.ids, self.series.scores
        hx, hy = pdata.user_points(ids, ids.astype(float), scores, self._user_ids)
        with self.hist_user.hold_sync():
            self.hist_user.x, self.hist_user.y = hx, hy
        if self._param_name is not None and self.param_points is not None:
            px, py = pdata.user_points(ids, self.series.column(self._param_name), scores,
                                       self._user_ids)
            with self.param_user.hold_sync():
                self.param_user.x, self.param_user.y = px, py

    def _show_param_brush(self) -> None:
        """The param chart's brush shows the picked parameter's range in the scan's space."""
        name, brush = self._param_name, self.param_brush
        if brush is None or name is None or name not in self.scan.space:
            return
        p, base = self.scan.space[name], self.base_space[name]
        sel: Any = None
        if p != base:
            if isinstance(base, Choice) and isinstance(p, Choice | Fixed):
                kept = [i for i, v in enumerate(base.values) if p.contains(v)]
                sel = [min(kept) - 0.4, max(kept) + 0.4] if kept else None
            elif isinstance(p, Float | Int):
                sel = [float(p.low), float(p.high)]
        cur = brush.selected
        same = (sel is None and (cur is None or len(cur) == 0)) or (
            sel is not None and cur is not None and len(cur) == 2
            and np.allclose(np.asarray(cur, dtype=float), sel, rtol=1e-9))
        if not same:
            brush.selected = None if sel is None else np.array(sel, dtype=float)

    def _draw_curves(self, live: dict[int, list[tuple[float, float]]]) -> None:
        with self._lock:
            running = list(self._running.values())
            top = list(self._top)
        info = cd.curves_info(running, top, live, self.scan.minimize)
        colors = [_RUNNING if k == "running" else _POINT for k in info["kinds"]]
        x, y = info["x"], info["y"]
        if x.size:
            fx, fy = x[np.isfinite(x)], y[np.isfinite(y)]
            lo, hi = (float(fx.min()), float(fx.max())) if fx.size else (0.0, 1.0)
            whole = bool(fx.size) and bool(np.all(fx == np.round(fx)))
            self._set_axis("curves_x", self.curves_xaxis, self.curves.scales["x"],
                           lo, max(hi, lo + 1), integer=whole)
            ylo, yhi = cd.value_domain(fy)
            self._set_axis("curves_y", self.curves_yaxis, self.curves.scales["y"], ylo, yhi)
        with self.curves.hold_sync():
            self.curves.x, self.curves.y = x, y
            self.curves.colors = colors or [_POINT]
            self.curves.labels = info["labels"]
        if info["labels"]:
            caption = " &nbsp; ".join(
                _swatch(_RUNNING if k == "running" else _POINT,
                        lab if k == "running" else f"{lab} (best finished)")
                for lab, k in zip(info["labels"], info["kinds"], strict=True))
        elif self.scan.n_done:
            caption = ("<i>no learning curves: they appear when the objective calls "
                       "<code style='font-size:inherit'>trial.report(step, value)</code></i>")
        else:
            caption = "<i>no data yet: running trials' reports appear here</i>"
        if self.curves_caption.value != caption:
            self.curves_caption.value = caption

    def _update_header(self, note: str = "") -> None:
        s = self.scan
        info = cd.progress_info(s)
        st = info["status"]
        color = _STATUS_COLORS.get(st, "#6b7280")
        title = (f"<b style='font-size:1.1em'>{html.escape(s.name)}</b>"
                 f"&nbsp;<span style='opacity:.7'>{html.escape(s.strategy.name)}, "
                 f"{s.mode} {html.escape(s.metric)}</span>")
        status = (f"<span style='background:{color};color:white;border-radius:8px;"
                  f"padding:1px 8px'>{st}</span>&nbsp;")
        progress_text = (f"<b>{info['done']}/{s.max_trials if s.max_trials else '∞'}</b> done"
                         + (f" · {info['running']} running" if info["running"] else "")
                         + "&nbsp;")
        details = (f"&nbsp;{info['failed']} failed · {info['pruned']} pruned · "
                   f"{cd.format_seconds(info['elapsed'])} elapsed · ETA "
                   f"{cd.format_seconds(info['eta'])}")
        if info["best_value"] is None:
            best = "no finished trial yet"
        else:
            params = ", ".join(f"{k}={html.escape(_fmt(v))}"
                               for k, v in info["best_params"].items())
            best = (f"best <b>{_fmt(info['best_value'])}</b> (#{info['best_id']})")
            best = self.honest_view.best_line(best)
            details += f"<br>&nbsp;best: <span style='opacity:.8'>{params}</span>"
        msgs = [note] if note else []
        runner = getattr(s, "runner_note", None)
        if runner:
            msgs.append(f"<span style='opacity:.8'>⏳ {html.escape(str(runner))}</span>")
        msg = info["message"]
        full = s.max_trials is not None and info["done"] >= s.max_trials
        if st in ("finished", "failed", "stopped") and msg and not (
                msg.startswith("max_trials") and not full):   # stale once max is raised
            msgs.append(f"<span style='opacity:.8'>{html.escape(msg)}</span>")
        active = st in ("running", "paused", "stopping")
        for w, v in ((self.title, title), (self.status, status),
                     (self.progress_text, progress_text), (self.best_html, best),
                     (self.details, details), (self.message, " · ".join(msgs))):
            if w.value != v:
                w.value = v
        with self.progress.hold_sync():
            self.progress.max = max(int(info["total"]), 1)
            self.progress.value = min(info["done"], self.progress.max)
            self.progress.bar_style = {"failed": "danger", "finished": "success"}.get(st, "info")
        with self.start_btn.hold_sync():
            self.start_btn.disabled = active or s.objective is None or full
            self.start_btn.tooltip = ("raise max trials to continue" if full and not active
                                      else "start or continue the scan")
            self.start_btn.description = "Start" if not s.trials else "Continue"
        with self.pause_btn.hold_sync():
            self.pause_btn.disabled = st not in ("running", "paused")
            self.pause_btn.description = "Resume" if st == "paused" else "Pause"
            self.pause_btn.icon = "play" if st == "paused" else "pause"
        self.stop_btn.disabled = st not in ("running", "paused")
        if self.strategy.value != s.strategy.name and s.strategy.name in self.strategy.options:
            self.strategy.value = s.strategy.name
        if self.max_trials.value != (s.max_trials or 0):   # set from code: show it
            self.max_trials.value = s.max_trials or 0

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
        cols = self.honest_view.table_columns(rows, cols)
        if any(r.get("flags") for r in rows):
            cols.append("flags")
        marks = {t.id: t for t in top}
        for r in rows:   # who proposed it; whether it is learnt from
            t = marks.get(r["trial"])
            r["source"] = getattr(t, "source", None) or ""
            r["excluded"] = getattr(t, "excluded", None)
        if any(r["source"] == "user" or r["excluded"] for r in rows):
            cols.append("source")
        head = "".join(f"<th style='padding:2px 6px;text-align:right'>"
                       f"{html.escape(c + ' (s)' if c == 'duration' else c)}</th>" for c in cols)
        body = []
        best = s.best
        for r in rows:
            style = " style='font-weight:bold'" if best is not None and r["trial"] == best.id \
                else ""
            if r["excluded"]:
                style = (" class='hpo-row-excluded' title='excluded: "
                         f"{html.escape(str(r['excluded']), quote=True)}' "
                         "style='opacity:.5;text-decoration:line-through'")
            elif r["source"] == "user":
                style = style[:-1] + ";color:#9333ea'" if style else " style='color:#9333ea'"
                style += " class='hpo-row-user'"
            cells = "".join(
                f"<td style='padding:2px 6px;text-align:right'>"
                f"{html.escape(_fmt(r.get(c)) if c != 'duration' else cd.format_seconds(r.get(c)) if (r.get(c) or 0) >= 1 else _fmt(r.get(c)))}</td>"  # noqa: E501
                for c in cols)
            body.append(f"<tr{style}>{cells}</tr>")
        value = (f"<table style='border-collapse:collapse;font-size:12px'>"
                 f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
                 "</table>" if rows else "<i>no finished trial yet</i>")
        if self.table.value != value:
            self.table.value = value

    def _update_trial_view(self) -> None:
        if not self.trial_show.value:
            value = ("<span class='hpo-caption'>pick a trial number and press <b>show</b> "
                     "for its parameters, error and captured output</span>")
        else:
            t = self.scan.trial(int(self.trial_pick.value))
            value = _trial_html(t, self.scan.metric, int(self.trial_pick.value))
        if self.trial_out.value != value:
            self.trial_out.value = value

    def close(self) -> None:
        """Stop listening to the scan and close the widgets (the scan goes on)."""
        self._closed = True
        self._wake.set()
        self.scan.unsubscribe(self._on_event)
        self.honest_view.close()
        with contextlib.suppress(Exception):
            self.close_all_children()
        super().close()

    def close_all_children(self) -> None:
        for w in (self.history_fig, self.param_fig, self.curves_fig, self.parcoords):
            if w is not None:
                w.close()


#: Most characters of a trial's captured output shown (its end, where errors are).
OUTPUT_CHARS = 20_000


def _trial_html(t: Any, metric: str, wanted: int) -> str:
    """One trial in full for the trial view: status, score, parameters, error, output."""
    if t is None:
        return f"<i>no trial #{wanted} (yet)</i>"
    params = ", ".join(f"{html.escape(str(k))}={html.escape(_fmt(v))}"
                       for k, v in t.params.items())
    parts = [f"<b>#{t.id}</b> {html.escape(t.status)}"
             + (f" · {html.escape(metric)} <b>{_fmt(t.value)}</b>" if t.value is not None
                else "")
             + (f" · {cd.format_seconds(t.duration)}" if t.duration else "")
             + f"<br><span style='opacity:.8'>{params}</span>"]
    if t.error:
        parts.append(f"<div style='color:#dc2626'>{html.escape(str(t.error))}</div>")
    outputs = [(k, t.metrics.get(k)) for k in ("stdout", "stderr")
               if isinstance(t.metrics.get(k), str) and t.metrics.get(k)]
    for key, text in outputs:
        cut = text[-OUTPUT_CHARS:]
        more = f"(last {OUTPUT_CHARS:,} of {len(text):,} characters) " if len(text) > len(cut) \
            else ""
        parts.append(f"<div>{key} {more}</div><pre>{html.escape(cut)}</pre>")
    if not outputs:
        parts.append("<div style='opacity:.7'>no captured output</div>")
    return "".join(parts)
