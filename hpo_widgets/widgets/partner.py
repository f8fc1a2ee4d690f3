"""The dashboard's partner parts (issue 14): what the machine believes, what it
proposes, and the human's ideas.

- ``hpo-importance``: a small bar chart of parameter importance;
- ``hpo-suggestion``: a proposed narrowing in words with Accept / Dismiss (Accept is
  ``scan.narrow(**s.narrow, by="suggestion")``);
- ``hpo-try``: pick a row of the top trials, "try near this" puts its parameters in
  editable fields, Enqueue runs them next; Exclude / Include leaves that trial out of
  what the machine learns from, or back in;
- the belief band (mean, uncertainty, next point) lives on the dashboard's
  parameter-vs-score chart; this panel computes it (:attr:`PartnerPanel.band`).

The one-writer rule of :mod:`.dashboard` holds: click handlers (kernel main thread) call
the scan and record what they want shown, then ask the dashboard to redraw; only
:meth:`PartnerPanel.compute` and :meth:`PartnerPanel.draw`, called from the dashboard's
refresher thread, write widget state. The expensive part (importance, proposals, the
belief) is recomputed on :class:`~hpo_widgets.analysis.RefreshSchedule`, so it takes a
bounded share of the kernel's time however fast trials end.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np

from .. import analysis
from . import partner_data as pd_

__all__ = ["PartnerPanel"]

log = logging.getLogger("hpo_widgets")

_IMPORTANCE = "#4c78a8"
#: Trials the live importance chart is fitted on (a fixed-seed subsample above it);
#: ``scan.analyze()`` uses analysis.MAX_IMPORTANCE_SAMPLES. Three times fewer than that
#: makes a redraw about three times cheaper, and the ranking of a few parameters is
#: already stable at a few hundred trials.
LIVE_IMPORTANCE_SAMPLES = 300
#: Finished trials before the machine's views are first computed (the importance is
#: marked unreliable below 10 anyway, and proposals need 20).
MIN_FINISHED = 10


class PartnerPanel(W.VBox):
    """Importance, a proposed narrowing and the human's ideas for one scan's dashboard.

    ``on_dirty(*parts)`` is the dashboard's way to schedule a redraw of ``parts``
    ("partner": recompute; "try": the fields and notes; "belief": the band).
    """

    def __init__(self, scan: Any, on_dirty: Callable[..., None],
                 schedule: analysis.RefreshSchedule | None = None) -> None:
        self.scan = scan
        self._on_dirty = on_dirty
        # at most RefreshSchedule's default 1% of the kernel's time (a 0.1 s recompute
        # waits 10 s: every few trials when trials take seconds; a fast scan of no-op
        # trials no longer pays 5%); first at 10 finished trials, below which no
        # importance is reliable (analysis)
        self.schedule = schedule or analysis.RefreshSchedule(min_new=MIN_FINISHED,
                                                             max_wait=20.0)
        self._lock = threading.Lock()
        self._dismissed: set[str] = set()
        self._wanted_fields: dict[str, str] | None = None   # for the refresher to write
        self._note = ""
        self._force = True
        self.importance: analysis.Importance | None = None
        self.suggestion: analysis.Suggestion | None = None
        self.band: dict[str, Any] | None = None
        self.band_label = ""
        self.cost = {"computes": 0, "seconds": 0.0}
        self._row_ids: list[int] = []
        self._bars_shown: tuple[Any, ...] = ((), ())
        self._options_shown: list[tuple[str, int]] = []
        self._build()

    # -- parts ---------------------------------------------------------------------------
    def _build(self) -> None:
        xs, ys = bq.OrdinalScale(), bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Bars(x=[], y=np.zeros(0), scales={"x": xs, "y": ys},
                            orientation="horizontal", colors=[_IMPORTANCE], padding=0.25)
        self.importance_fig = bq.Figure(
            marks=[self.bars], title="importance",
            axes=[bq.Axis(scale=xs, orientation="vertical"),
                  bq.Axis(scale=ys, tick_format=".0%", tick_values=np.array([0, .5, 1.0]))],
            fig_margin={"top": 30, "bottom": 30, "left": 90, "right": 12},
            layout=W.Layout(width="100%", height="170px"))
        self.importance_fig.add_class("hpo-importance-chart")
        self.importance_caption = W.HTML()
        self.importance_caption.add_class("hpo-caption")
        self.importance_caption.add_class("hpo-importance-caption")
        self.importance_box = W.VBox([self.importance_fig, self.importance_caption])
        self.importance_box.add_class("hpo-importance")

        self.suggestion_html = W.HTML()
        self.suggestion_html.add_class("hpo-suggestion-text")
        self.accept_btn = W.Button(description="Accept", button_style="success",
                                   tooltip="narrow the space as proposed (recorded as a "
                                           "suggestion in scan.settings_log)",
                                   layout=W.Layout(width="80px"))
        self.accept_btn.add_class("hpo-suggestion-accept")
        self.dismiss_btn = W.Button(description="Dismiss", layout=W.Layout(width="80px"))
        self.dismiss_btn.add_class("hpo-suggestion-dismiss")
        self.accept_btn.on_click(self._click_accept)
        self.dismiss_btn.on_click(self._click_dismiss)
        self.suggestion_box = W.VBox([
            W.HTML("<b>The machine proposes</b>"), self.suggestion_html,
            W.HBox([self.accept_btn, self.dismiss_btn])], layout=W.Layout(display="none"))
        self.suggestion_box.add_class("hpo-suggestion")

        self.try_pick = W.Dropdown(options=[], description="trial",
                                   layout=W.Layout(width="230px"))
        self.try_pick.add_class("hpo-try-pick")
        self.try_btn = W.Button(description="try near this", layout=W.Layout(width="110px"),
                                tooltip="put this trial's parameters in the fields below")
        self.try_btn.add_class("hpo-try-near")
        self.try_btn.on_click(self._click_try)
        self.fields = {n: W.Text(description=n, layout=W.Layout(width="230px"))
                       for n in self.scan.space.tunable}
        for n, w in self.fields.items():
            w.add_class("hpo-try-field")
            w.add_class(f"hpo-try-field-{n}")
        self.enqueue_btn = W.Button(description="Enqueue", button_style="primary",
                                    tooltip="run these parameters next", disabled=True,
                                    layout=W.Layout(width="90px"))
        self.enqueue_btn.add_class("hpo-try-enqueue")
        self.enqueue_btn.on_click(self._click_enqueue)
        self.reason = W.Text(placeholder="why leave it out", layout=W.Layout(width="150px"))
        self.reason.add_class("hpo-exclude-reason")
        self.exclude_btn = W.Button(description="Exclude", layout=W.Layout(width="80px"),
                                    tooltip="keep the trial, but do not learn from it")
        self.exclude_btn.add_class("hpo-exclude")
        self.exclude_btn.on_click(self._click_exclude)
        self.include_btn = W.Button(description="Include", layout=W.Layout(width="80px"),
                                    tooltip="learn from this trial again")
        self.include_btn.add_class("hpo-include")
        self.include_btn.on_click(self._click_include)
        self.try_note = W.HTML()
        self.try_note.add_class("hpo-try-note")
        self.fields_box = W.Box(list(self.fields.values()),
                                layout=W.Layout(flex_flow="row wrap"))
        self.try_box = W.VBox([
            W.HTML("<b>Your ideas</b>"),
            W.HBox([self.try_pick, self.try_btn], layout=W.Layout(flex_flow="row wrap")),
            self.fields_box, self.enqueue_btn,
            W.HBox([self.exclude_btn, self.include_btn, self.reason],
                   layout=W.Layout(flex_flow="row wrap")),
            self.try_note])
        self.try_box.add_class("hpo-try")
        super().__init__([self.importance_box, self.suggestion_box, self.try_box],
                         layout=W.Layout(flex="1 1 320px", min_width="300px"))
        self.add_class("hpo-partner")

    # -- clicks (kernel main thread: call the scan, record, ask for a redraw) ------------
    def _say(self, text: str, error: bool = False) -> None:
        color = "#dc2626" if error else "inherit"
        with self._lock:
            self._note = f"<span style='color:{color}'>{html.escape(text)}</span>"
        self._on_dirty("try")

    def _picked(self) -> Any:
        tid = self.try_pick.value
        return None if tid is None else self.scan.trial(int(tid))

    def _click_try(self, _: Any = None) -> None:
        t = self._picked()
        if t is None:
            self._say("pick a trial first", error=True)
            return
        with self._lock:
            self._wanted_fields = pd_.point_fields(t.params, self.scan.space)
        self._say(f"trial #{t.id}'s parameters: edit them, then Enqueue")

    def invalidate(self) -> None:
        """Recompute at the next redraw (the trials learnt from changed); any thread."""
        with self._lock:
            self._force = True

    def _click_enqueue(self, _: Any = None) -> None:
        try:
            point = pd_.parse_fields(self.scan.space,
                                     {n: w.value for n, w in self.fields.items()})
            ids = self.scan.enqueue(point)
        except Exception as e:  # noqa: BLE001 - bad fields, ScanLocked...: said in the panel
            self._say(str(e), error=True)
            return
        self._say(f"enqueued as trial #{ids[0]}: it runs next"
                  + ("" if self.scan.status in ("running", "paused") else
                     " (press Start)"))

    def _click_exclude(self, _: Any = None) -> None:
        t = self._picked()
        if t is None:
            self._say("pick a trial first", error=True)
            return
        try:   # the scan's trial_excluded event makes the views recompute
            self.scan.exclude(t.id, self.reason.value.strip() or "excluded in the dashboard")
        except Exception as e:  # noqa: BLE001 - e.g. ScanLocked by another process
            self._say(str(e), error=True)
            return
        self._say(f"trial #{t.id} is left out of what the machine learns from")

    def _click_include(self, _: Any = None) -> None:
        t = self._picked()
        if t is None:
            self._say("pick a trial first", error=True)
            return
        try:
            self.scan.include(t.id)
        except Exception as e:  # noqa: BLE001 - e.g. ScanLocked by another process
            self._say(str(e), error=True)
            return
        self._say(f"trial #{t.id} is learnt from again")

    def _click_accept(self, _: Any = None) -> None:
        s = self.suggestion
        if s is None:
            return
        try:
            self.scan.narrow(**s.narrow, by="suggestion")
        except Exception as e:  # noqa: BLE001 - said in the panel, never lost in a log
            self._say(str(e), error=True)
            return
        with self._lock:
            self._dismissed.add(s.key)
            self.suggestion = None
            self._force = True
        self._on_dirty("partner", "try")

    def _click_dismiss(self, _: Any = None) -> None:
        s = self.suggestion
        if s is None:
            return
        with self._lock:
            self._dismissed.add(s.key)
            self.suggestion = None
        self._on_dirty("partner")

    # -- the refresher's side ------------------------------------------------------------
    def due(self) -> bool:
        """Whether the expensive views should be recomputed now."""
        with self._lock:
            if self._force:
                return True
        return self.schedule.due(self._n_learnt(self.scan.trials))

    @staticmethod
    def _n_learnt(trials: Any) -> int:
        """Finished trials learnt from: what the schedule counts in due() and done()."""
        return sum(1 for t in trials if t.status == "finished" and t.excluded is None)

    def compute(self, param: str | None) -> bool:
        """Recompute importance, the proposal and the belief along ``param`` when due
        (refresher thread); whether anything was recomputed."""
        if not self.due():
            return False
        t0 = time.perf_counter()
        with self._lock:
            self._force = False
        scan = self.scan
        trials = scan.trials
        space, minimize = scan.space, scan.minimize
        excluded = [t.id for t in trials if t.excluded is not None]
        n_fin = self._n_learnt(trials)
        imp = sug = band = None
        label = ""
        if n_fin >= MIN_FINISHED:
            cols = analysis.trial_columns(trials, space, minimize, excluded)
            imp = analysis.importance(trials, space, minimize, strategy=scan.strategy,
                                      excluded=excluded, columns=cols,
                                      max_samples=LIVE_IMPORTANCE_SAMPLES)
            got = pd_.predictor(scan.strategy, space, trials, minimize, excluded=excluded,
                                columns=cols)
            predict = None if got is None else got[0]
            sug_all = analysis.suggest_narrowing(trials, space, minimize, predict=predict,
                                                 excluded=excluded, columns=cols)
            with self._lock:
                sug = next((s for s in sug_all if s.key not in self._dismissed), None)
            best = scan.best
            if got is not None and param is not None and best is not None \
                    and space.contains(best.params):
                try:
                    band = pd_.belief_marks(predict, space, param, best.params, minimize,
                                            best.value)
                    label = got[1]
                except (ValueError, TypeError, KeyError):
                    log.debug("no belief band for %s", param, exc_info=True)
        cost = time.perf_counter() - t0
        self.schedule.done(n_fin, cost)
        with self._lock:
            self.importance, self.suggestion, self.band, self.band_label = imp, sug, band, label
        self.cost["computes"] += 1
        self.cost["seconds"] += cost
        return True

    def draw(self, top: list[Any], metric: str) -> None:
        """Write the panel's widgets from what :meth:`compute` found (refresher thread)."""
        bars = pd_.importance_bars(self.importance)
        shown = (tuple(bars["names"]), tuple(np.round(bars["values"], 4)))
        if shown != self._bars_shown:   # traits are sent only when they change
            self._bars_shown = shown
            with self.bars.hold_sync():
                self.bars.x = bars["names"]
                self.bars.y = bars["values"]
        if self.importance_caption.value != bars["caption"]:
            self.importance_caption.value = bars["caption"]
        s = self.suggestion
        text = "" if s is None else html.escape(s.message)
        if self.suggestion_html.value != text:
            self.suggestion_html.value = text
        display = "none" if s is None else "flex"
        if self.suggestion_box.layout.display != display:
            self.suggestion_box.layout.display = display
        self.draw_try(top, metric)

    def draw_try(self, top: list[Any], metric: str) -> None:
        """The row picker, the fields and the note (refresher thread)."""
        options = [(pd_.row_label(t, metric), t.id) for t in top]
        if options != self._options_shown:
            keep = self.try_pick.value
            self.try_pick.options = options
            self._options_shown = options
            self._row_ids = [o[1] for o in options]
            if keep in self._row_ids:
                self.try_pick.value = keep
        with self._lock:
            wanted, self._wanted_fields = self._wanted_fields, None
            note = self._note
        if wanted is not None:
            for n, text in wanted.items():
                if n in self.fields:
                    self.fields[n].value = text
            self.enqueue_btn.disabled = False
        if self.try_note.value != note:
            self.try_note.value = note
