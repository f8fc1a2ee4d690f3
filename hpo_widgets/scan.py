"""The engine's facade: :class:`Scan`, :func:`load` and :func:`scans`.

A scan runs trials in the background and tells listeners what happens. Its parts live
beside it, one owner each, and know nothing of ``Scan``:

- :mod:`.options`: the validated settings (also used by ``%%hpo`` and the stored meta);
- :mod:`.runners`: where trials run and what each place can do;
- :mod:`.outcome`: running one trial and reading what it returned;
- :mod:`.events`: :class:`ScanEvent` and the listeners;
- :mod:`.driver`: the thread that owns a running scan's status, counts and store writes;
- :mod:`.store`: SQLite persistence.

The engine imports no widgets. ``scan.dashboard()``, ``scan.dock()`` and the notebook
display look the widgets up in :data:`VIEWS` by name when they are first asked for (the
widgets package may also :func:`register_view` its own factories), so the widgets depend
on the engine's public view, never the other way round.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import importlib
import logging
import math
import os
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import values
from .driver import SCAN_STATUSES, Control, Driver, TrialBook, rescore
from .events import EventBus, ScanEvent
from .options import ScanOptions, check_option, metric_direction
from .outcome import as_number, takes_trial
from .pruning import Pruner, make_pruner
from .runners import (
    capabilities,
    default_slots_cap,
    is_dask_client,
    make_runner,
    refuse_pruner,
)
from .space import Space
from .store import ScanLocked, Store, StoreCorrupt, list_stored, scan_dir
from .strategies import Strategy, make_strategy
from .trial import Trial, metric_columns, param_columns
from .trial import metric_names as trial_metric_names

__all__ = ["SCAN_STATUSES", "Scan", "ScanEvent", "StoreCorrupt", "load", "register_view",
           "scans"]

log = logging.getLogger("hpo_widgets")

#: The name this decision had before options.metric_direction (kept for old imports).
infer_mode = metric_direction

#: How a scan reaches its views without importing them: name -> "module:attribute".
VIEWS: dict[str, Any] = {"dashboard": "hpo_widgets.widgets:Dashboard",
                         "dock": "hpo_widgets.lab:dock"}


def register_view(name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(scan, ...)`` the scan's ``name`` view ("dashboard" or "dock")."""
    VIEWS[name] = factory


def _view(name: str) -> Callable[..., Any]:
    spec = VIEWS[name]
    if isinstance(spec, str):
        module, _, attr = spec.partition(":")
        spec = VIEWS[name] = getattr(importlib.import_module(module), attr)
    return spec


def _in_kernel() -> bool:
    """Whether we run in a Jupyter kernel (where widgets have a front end)."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    return getattr(shell, "kernel", None) is not None


_live: weakref.WeakValueDictionary[str, Scan] = weakref.WeakValueDictionary()
_running: set[Scan] = set()  # strong refs: a running scan lives while its thread does


class _Plan:
    """What the driver reads on every step; the scan's setters change it."""

    def __init__(self, scan: Scan) -> None:
        self._scan = weakref.proxy(scan)

    options = property(lambda self: self._scan._options)
    space = property(lambda self: self._scan._space)
    strategy = property(lambda self: self._scan._strategy)
    pruner = property(lambda self: self._scan.pruner)
    max_trials = property(lambda self: self._scan._options.max_trials)
    n_jobs = property(lambda self: self._scan.n_jobs)

    def meta(self) -> dict[str, Any]:
        return self._scan._meta()


class Scan:
    """A hyperparameter scan that runs in the background.

    >>> import hpo_widgets as hw, tempfile
    >>> def objective(params):
    ...     return (params["x"] - 0.3) ** 2
    >>> scan = hw.Scan(objective, {"x": (0.0, 1.0)}, max_trials=20, seed=0,
    ...                store=tempfile.mkdtemp())
    >>> scan.start().wait()
    True
    >>> len(scan.results)
    20

    ``start()`` returns at once; trials run in a driver thread (and ``n_jobs`` worker
    threads, an executor, or a Dask client). ``pause()``, ``resume()``, ``stop()`` and
    ``wait()`` steer it; ``results`` is a DataFrame that grows as trials end. Every
    trial is committed to SQLite under ``store/name`` before anyone hears of it, and
    constructing a Scan with the same ``name`` and ``store`` continues that scan: it
    re-reads the store when it starts, so it never overwrites what another object or
    process stored. Constructing or loading a scan only reads its store.
    """

    def __init__(self, objective: Callable[..., Any] | None, space: Space | Mapping[str, Any],
                 *, metric: str = "value", mode: str | None = None,
                 strategy: str | Strategy = "random", max_trials: int | None = 100,
                 time_limit: float | _dt.timedelta | None = None, n_jobs: int | None = None,
                 seed: int | None = None, pruner: str | Pruner | None = None,
                 executor: Any = None, name: str | None = None,
                 store: str | os.PathLike[str] = "hpo_scans",
                 max_consecutive_failures: int = 10, trial_timeout: float | None = None,
                 **unknown: Any) -> None:
        if objective is not None and not callable(objective):
            raise TypeError(f"objective must be a function, got {type(objective).__name__}")
        opts = ScanOptions.build(
            objective=objective, writable=objective is not None, metric=metric, mode=mode,
            strategy=strategy, max_trials=max_trials, time_limit=time_limit, n_jobs=n_jobs,
            seed=seed, pruner=pruner, executor=executor, name=name, store=store,
            max_consecutive_failures=max_consecutive_failures, trial_timeout=trial_timeout,
            **unknown)
        self.objective = objective
        self._pass_trial = takes_trial(objective) if objective is not None else False
        self._space = Space.coerce(space)
        self._strategy = make_strategy(opts.strategy)
        self._strategy.validate(self._space)
        self.pruner = make_pruner(opts.pruner)
        # what to rebuild the pruner from when a trial is excluded or included: its name,
        # or a fresh copy of a Pruner object (None when it cannot be copied)
        self._pruner_template: Any = opts.pruner
        if isinstance(opts.pruner, Pruner):
            try:
                self._pruner_template = copy.deepcopy(opts.pruner)
            except Exception:  # noqa: BLE001 - e.g. it holds a lock: then it is not rebuilt
                self._pruner_template = None
        if executor is not None and not (is_dask_client(executor) or hasattr(executor, "submit")):
            raise TypeError("executor must be None, a concurrent.futures.Executor or a "
                            f"dask.distributed.Client, got {type(executor).__name__}")
        self.executor = executor
        self._owns_executor = False   # subclasses that make their executor shut it down
        caps = capabilities(executor, opts.n_jobs, opts.trial_timeout)
        if self.pruner is not None:
            refuse_pruner(caps, f"pruner={getattr(self.pruner, 'name', self.pruner)!r}")
        if opts.n_jobs is None:
            opts = opts.replace(n_jobs=1 if executor is None else caps.slots)
        self._options = opts
        self.path = scan_dir(opts.store, opts.name)

        self._lock = threading.RLock()
        self._bus = EventBus(opts.name)
        self._book = TrialBook(self._lock, minimize=self.minimize)
        self._control = Control(self._lock)
        self._driver: Driver | None = None
        self._writer: Store | None = None
        self._done = threading.Event()
        self._done.set()
        self._started_at: float | None = None
        self._elapsed_before = 0.0
        self._stored_meta: dict[str, Any] = {}
        self._pruner_fed: set[int] = set()
        self._seen_session: str | None = None   # the store's last session, as we know it
        self._log_pending: list[dict[str, Any]] = []   # settings history not yet stored
        self.exception: BaseException | None = None
        #: ``(trial id, reason)`` of stored rows that could not be read (skipped)
        self.skipped_trials: list[tuple[int, str]] = []

        self._read_stored(viewing=objective is None)
        self._strategy.bind(seed=self.seed, minimize=self.minimize)
        if self.pruner is not None:
            self.pruner.bind(minimize=self.minimize)
            self._feed_pruner()
        other = _live.get(str(self.path))
        if other is None or other.status not in ("running", "paused", "stopping"):
            _live[str(self.path)] = self

    # -- reading the store (never writes) -----------------------------------------------------
    def _read_stored(self, viewing: bool) -> None:
        if not (self.path / "trials.sqlite").exists():
            return
        with Store.reader(self.path) as s:
            meta = s.meta()
            locked = s.is_locked()
            if viewing:
                # counts and best from SQLite; Trial objects only when someone asks
                skipped, counts, best_id = s.survey(self.metric, self.minimize)
                best = None if best_id is None else s.trial(best_id)
                if not locked and counts.get("running"):
                    counts["interrupted"] = counts.get("interrupted", 0) + counts["running"]
                    counts["running"] = 0
            else:
                stored = s.trials()
                skipped = list(s.skipped)
        self._stored_meta = meta
        self._seen_session = meta.get("session")
        if viewing:
            self._book.defer(lambda: self._load_all(interrupted=not locked), counts,
                             None if best is None else rescore(best, self.metric))
            self._warn_skipped(skipped)
            done = self._book.n_done
        else:
            self._take_stored(stored, skipped, interrupted=not locked)
            done = sum(1 for t in stored if t.done)
        self._elapsed_before = float(meta.get("elapsed", 0.0) or 0.0)
        if viewing:
            status = meta.get("status", "idle")
            message = str(meta.get("message", ""))
            if status not in SCAN_STATUSES or (status in ("running", "paused", "stopping")
                                               and not locked):
                message = (f"interrupted ({status}): the process running it ended"
                           if status in ("running", "paused", "stopping") else message)
                status = "idle"
            self._control.status, self._control.message = status, message
        else:
            self._control.message = f"continued from {self.path} ({done} trials stored)"
            log.info("scan %r: %s", self.name, self._control.message)

    def _stored_trials(self, stored: list[Trial], interrupted: bool) -> list[Trial]:
        """The stored rows as this scan's trials (rows left running by a process that is
        gone count as interrupted; values under this scan's metric)."""
        metric = self.metric
        out = []
        for t in stored:
            if t.status == "running" and interrupted:
                t = t.replace(status="interrupted",
                              error="the process running this trial ended before it finished")
            out.append(rescore(t, metric))
        return out

    def _load_all(self, interrupted: bool) -> list[Trial]:
        with Store.reader(self.path) as s:
            return self._stored_trials(s.trials(), interrupted)

    def _take_stored(self, stored: list[Trial], skipped: list[tuple[int, str]],
                     interrupted: bool) -> None:
        self._book.reset(self._stored_trials(stored, interrupted))
        self._warn_skipped(skipped)

    def _warn_skipped(self, skipped: list[tuple[int, str]]) -> None:
        self.skipped_trials = skipped
        if skipped:
            ids = [i for i, _ in skipped]
            warnings.warn(
                f"scan {self.name!r}: {len(skipped)} stored trial(s) could not be read and "
                f"were skipped (ids {ids[:20]}{'...' if len(ids) > 20 else ''}; first reason: "
                f"{skipped[0][1]}); scan.skipped_trials lists them all. Their ids are never "
                "reused.", UserWarning, stacklevel=3)

    def _feed_pruner(self) -> None:
        if self.pruner is None or self._book.deferred:   # a viewed scan prunes nothing
            return
        for t in self._book.learnt():
            if t.id not in self._pruner_fed:
                self._pruner_fed.add(t.id)
                with contextlib.suppress(Exception):
                    self.pruner.complete(t)

    # -- settings ----------------------------------------------------------------------------
    @property
    def options(self) -> ScanOptions:
        """The scan's validated settings (frozen; setters below replace them)."""
        return self._options

    metric = property(lambda self: self._options.metric, doc="The metric to optimise.")
    mode = property(lambda self: self._options.mode, doc='"min" or "max".')
    time_limit = property(lambda self: self._options.time_limit)
    seed = property(lambda self: self._options.seed)
    name = property(lambda self: self._options.name)
    max_consecutive_failures = property(lambda self: self._options.max_consecutive_failures)
    trial_timeout = property(lambda self: self._options.trial_timeout)

    @property
    def n_jobs(self) -> int:
        """Trials run at once (for an executor that does not say: at most this many,
        learnt from when its trials start)."""
        return self._options.n_jobs or default_slots_cap()

    @property
    def minimize(self) -> bool:
        return self._options.mode == "min"

    @property
    def strategy(self) -> Strategy:
        """The strategy proposing new points; may be swapped while the scan runs."""
        return self._strategy

    @strategy.setter
    def strategy(self, value: str | Strategy) -> None:
        self.set_strategy(value)

    def set_strategy(self, value: str | Strategy, *, by: str = "user") -> None:
        """Swap the strategy (as ``scan.strategy = ...``), recorded in the settings
        history as changed ``by`` "user" or "suggestion"."""
        new = make_strategy(value)
        new.validate(self._space)
        new.bind(seed=self.seed, minimize=self.minimize)
        old = getattr(self._strategy, "name", None)
        self._strategy = new
        self._record("strategy", {"from": old, "to": getattr(new, "name", repr(new))}, by)
        self._changed("status")

    @property
    def max_trials(self) -> int | None:
        """How many trials (finished, failed, pruned) end the scan; may be changed live."""
        return self._options.max_trials

    @max_trials.setter
    def max_trials(self, value: int | None) -> None:
        old = self._options.max_trials
        self._options = self._options.replace(max_trials=check_option("max_trials", value))
        if old != self._options.max_trials:
            self._record("max_trials", {"from": old, "to": self._options.max_trials}, "user")
        self._changed("status")

    def _changed(self, kind: str) -> None:
        """A setting changed: listeners hear it; a running driver stores it."""
        self._control.inbox.put(("persist",))
        self._emit(ScanEvent(kind, self))
        self._control.wake()

    @property
    def eta(self) -> float | None:
        """Seconds until ``max_trials`` at the recent pace (``None`` when unknown)."""
        if self.max_trials is None or self.status not in ("running", "stopping"):
            return None
        left = self.max_trials - self.n_done
        if left <= 0:
            return 0.0
        recent = [t for t in self._book.history[-50:] if t.finished is not None]
        if len(recent) < 2 or self._started_at is None:
            return None
        span = recent[-1].finished - max(recent[0].finished, self._started_at)  # type: ignore[operator]
        if span <= 0:
            return None
        return left / ((len(recent) - 1) / span)

    def _meta(self) -> dict[str, Any]:
        return {**self._options.to_meta(), "space": self._space.to_dict(),
                "strategy": self._strategy.to_dict(),
                "pruner": None if self.pruner is None else self.pruner.to_dict(),
                "objective": getattr(self.objective, "__qualname__", None),
                "kind": self._stored_meta.get("kind", "scan")}

    # -- public state (a read-only view: widgets read these) ----------------------------------
    @property
    def status(self) -> str:
        """``"idle" | "running" | "paused" | "stopping" | "stopped" | "finished" |
        "failed"`` (see the README's "Statuses")."""
        return self._control.status

    @property
    def message(self) -> str:
        """A line about the status (why it ended, what it continued from)."""
        return self._control.message

    @property
    def runner_note(self) -> str | None:
        """A short line about the runner when it has something to say (a worker starting,
        a slot held by a hung trial), else ``None``."""
        d = self._driver
        return None if d is None or self._control.phase != "running" else d.runner_note()

    @property
    def space(self) -> Space:
        """The space new trials are drawn from; assign a narrowed one while running."""
        return self._space

    @space.setter
    def space(self, new: Space | Mapping[str, Any]) -> None:
        self._set_space(new, by="user")

    def _set_space(self, new: Space | Mapping[str, Any], by: str,
                   what: dict[str, Any] | None = None) -> None:
        new = Space.coerce(new)
        old = set(self._space)
        if set(new) != old:
            missing, extra = sorted(old - set(new)), sorted(set(new) - old)
            raise ValueError(
                "the new space must have the same parameters as the scan "
                f"(missing: {missing}, extra: {extra}); narrow ranges with "
                "scan.space.narrow(...), or start a new scan for a different model")
        self._strategy.validate(new)
        old = self._space
        self._space = new
        if new != old:
            changed = what or {n: new[n].to_dict() for n in new if new[n] != old[n]}
            self._record("space", changed, by)
        self._changed("space")

    def narrow(self, *, by: str = "user", **ranges: Any) -> Space:
        """Narrow the space for trials not yet started: ``scan.narrow(lr=(1e-3, 1e-2))``.

        A tuple narrows a range, a list restricts a choice, a scalar fixes a value.
        ``by="suggestion"`` records in :attr:`settings_log` that the change was a
        proposal the user accepted (``"user"`` otherwise).
        """
        if by not in ("user", "suggestion"):
            raise ValueError(f"by must be 'user' or 'suggestion', got {by!r}")
        shown = {k: list(v) if isinstance(v, tuple | list) else v for k, v in ranges.items()}
        self._set_space(self._space.narrow(**ranges), by=by,
                        what={k: _plain_json(v) for k, v in shown.items()})
        return self._space

    # -- the human's side: ideas to try, trials to leave out, the settings history ---------
    def _write(self, fn: Callable[[Store, Driver | None], Any]) -> None:
        """Apply a change to the store and the trials in memory as their one writer does:
        a running scan's driver applies it (a message); an idle scan takes the run lock
        (``ScanLocked`` if another process runs this scan), re-reads the store when
        someone else wrote since (as :meth:`start` does: a stale object never writes an
        old copy of a trial over a newer one), writes, and marks a new session so that
        other objects of this scan re-read before they write."""
        while True:
            with self._lock:
                phase = self._control.phase
                if phase == "running":
                    self._control.inbox.put(("apply", lambda drv: fn(drv.store, drv)))
                    return
                if phase == "idle":   # checked and written under one hold of the lock
                    self._write_idle(fn)
                    return
            self.wait()   # "ending": the driver is finishing; write once it has

    def _write_idle(self, fn: Callable[[Store, Driver | None], Any]) -> None:
        store = self._store
        held = store.holds_lock
        store.acquire()
        try:
            if store.get_meta("session") != self._seen_session or self._book.deferred:
                store.mark_interrupted()   # we hold the lock: rows left running are dead
                self._take_stored(store.trials(), list(store.skipped), interrupted=True)
                self._feed_pruner()
            if store.get_meta("space") is None:   # never started: make it loadable
                store.update_meta({**self._meta(), "status": self.status})
            fn(store, None)
            session = uuid.uuid4().hex
            store.set_meta("session", session)
            self._seen_session = session
        finally:
            if not held:
                store.release()

    def _record(self, what: str, change: Any, by: str) -> dict[str, Any]:
        """Add an entry to the settings history (stored by the driver while it runs, at
        the next start or the next enqueue/exclude otherwise); returns the entry."""
        entry = {"at": time.time(), "what": what, "change": _plain_json(change), "by": by}
        with self._lock:
            self._log_pending.append(entry)
            if self._control.phase == "running":
                self._control.inbox.put(("apply", lambda drv: self._flush_log(drv.store)))
        return entry

    def _write_recorded(self, fn: Callable[[Store, Driver | None], Any], what: str,
                        change: Any, by: str) -> None:
        """:meth:`_write` a change and log it; a write that fails (``ScanLocked``) leaves
        no entry behind for a change that never happened."""
        entry = self._record(what, change, by)
        try:
            self._write(fn)
        except BaseException:
            with self._lock, contextlib.suppress(ValueError):
                self._log_pending.remove(entry)
            raise

    def _flush_log(self, store: Store) -> None:
        with self._lock:
            entries, self._log_pending = self._log_pending, []
        try:
            store.log_settings(entries)
        except BaseException:
            with self._lock:
                self._log_pending[:0] = entries
            raise

    @property
    def settings_log(self) -> Any:
        """What changed in this scan's settings, when and by whom, oldest first: a
        DataFrame with ``at``, ``what`` ("space", "enqueue", "exclude", "include",
        "max_trials", "strategy"), ``change`` and ``by`` ("user" or "suggestion").
        Read from the store (``hw.load`` shows it) plus changes not stored yet."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        if (self.path / "trials.sqlite").exists():
            with contextlib.suppress(FileNotFoundError), Store.reader(self.path) as s:
                rows = s.settings_log()
        with self._lock:
            rows = rows + list(self._log_pending)
        df = pd.DataFrame(rows, columns=["at", "what", "change", "by"])
        df["at"] = pd.to_datetime(df["at"].astype("float64"), unit="s")
        return df

    def _complete_point(self, params: Mapping[str, Any], where: str) -> dict[str, Any]:
        """A partial point filled from the best trial (when it lies in the space), else
        the middle of each range; checked against the space and the store's encoding."""
        if not isinstance(params, Mapping):
            raise TypeError(f"{where} must be a dict of parameter values, got "
                            f"{type(params).__name__}")
        space = self._space
        unknown = [k for k in params if k not in space]
        if unknown:
            raise ValueError(f"{where}: unknown parameter(s) {unknown}; the space has "
                             f"{list(space)}")
        best = self.best
        if best is not None and space.contains(best.params):
            fill = dict(best.params)
        else:
            fill = space.decode([0.5] * space.ndim)
        point = {n: params[n] if n in params else fill[n] for n in space}
        for n, p in space.items():
            v = values.check(point[n], f"{where}[{n!r}]")
            if not p.contains(v):
                raise ValueError(f"{where}: {n}={v!r} is outside the scan's space ({p!r}); "
                                 f"give a value inside it, or widen the space first")
            point[n] = v
        return point

    def enqueue(self, params: Mapping[str, Any] | list[Mapping[str, Any]], *,
                by: str = "user") -> list[int]:
        """Run these points next, before the strategy's own proposals: ``scan.enqueue(
        {"lr": 3e-3})``. A partial dict is filled from the best trial (or the middle of
        the space). Every strategy learns from them like any trial; ``results`` shows
        them with ``source == "user"``. They are stored at once as ``queued`` (they do not
        count toward ``max_trials`` until they run) and survive a restart. Returns their
        trial ids."""
        points = [params] if isinstance(params, Mapping) else list(params)
        full = [self._complete_point(p, f"enqueue(params[{i}])" if len(points) > 1
                                     else "enqueue(params)") for i, p in enumerate(points)]
        if not full:
            return []
        ids: list[int] = []
        with self._lock:
            running = self._control.phase == "running"
            if running:   # the driver owns the id counter; reserve under the lock
                assert self._driver is not None
                ids = [self._driver.reserve_id() for _ in full]
        def put(store: Store, drv: Driver | None) -> None:
            reserved = list(ids) if running else [store.next_id() + i for i in range(len(full))]
            for tid, p in zip(reserved, full, strict=True):
                t = Trial(id=tid, params=p, status="queued", source="user", started=None)
                store.insert(t)
                self._book.put(t)
                if not running:
                    ids.append(tid)
                self._emit_kind("trial_queued", trial=t)
            if drv is None:
                self._flush_log(store)

        self._write_recorded(put, "enqueue", {"points": full}, by)
        if running:
            self._control.wake()
        return list(ids)

    def exclude(self, trial_id: int, reason: str = "excluded by the user") -> None:
        """Leave a trial out of what the strategy and the pruner learn from (and out of
        ``best``), e.g. a run that hit a data bug. It stays in the store and in
        ``results`` (column ``excluded``). Reversible with :meth:`include`."""
        self._mark(trial_id, str(reason) or "excluded by the user", "exclude")

    def include(self, trial_id: int) -> None:
        """Undo :meth:`exclude`: learn from this trial again."""
        self._mark(trial_id, None, "include")

    def _mark(self, trial_id: int, reason: str | None, what: str) -> None:
        tid = int(trial_id)
        if self.trial(tid) is None:
            raise KeyError(f"{what}: scan {self.name!r} has no trial {tid}")

        def put(store: Store, drv: Driver | None) -> None:
            t = self._book.trials.get(tid)
            if t is None or t.excluded == reason:
                return
            t = t.replace(excluded=reason)
            store.update(t)
            self._book.put(t)
            self._rebuild_pruner()
            self._emit_kind("trial_excluded", trial=t)
            if drv is None:
                self._flush_log(store)

        self._write_recorded(put, what, {"trial": tid, "reason": reason}, "user")

    @property
    def learnt(self) -> list[Trial]:
        """The ended trials the strategy and the pruner learn from, in the order they
        ended: every ended trial but the excluded ones (the trials that can be "best")."""
        with self._lock:
            return list(self._book.learnt())

    def _add_metrics(self, trial_id: int, extra: dict[str, Any]) -> Trial:
        """Add metrics to an ended trial (``evaluate()``'s cv_mean, test, ...) through the
        store's one writer, as :meth:`exclude` does; returns the trial as stored. Waits
        for a running driver to apply it, so the caller reads its own write."""
        tid = int(trial_id)
        applied = threading.Event()
        out: list[Trial] = []

        def put(store: Store, drv: Driver | None) -> None:
            try:
                t = self._book.trials.get(tid)
                if t is None:
                    return
                t = t.replace(metrics={**t.metrics, **extra})
                store.update(t)
                self._book.put(t)
                out.append(t)
            finally:
                applied.set()

        self._write(put)
        if not applied.wait(60):
            raise TimeoutError(f"scan {self.name!r}: the driver did not apply the new "
                               f"metrics of trial {tid} within 60 s; they may still land")
        if not out:
            raise KeyError(f"scan {self.name!r} has no trial {tid} (or it was not written)")
        return out[0]

    def _rebuild_pruner(self) -> None:
        """A pruner learns from every trial it is told of: after an exclusion it is
        rebuilt from the trials still learnt from."""
        if self._pruner_template is None or self.pruner is None:
            return
        template = self._pruner_template
        fresh = make_pruner(template) if isinstance(template, str) else copy.deepcopy(template)
        fresh.bind(minimize=self.minimize)
        self.pruner, self._pruner_fed = fresh, set()
        self._feed_pruner()

    def analyze(self, **options: Any) -> Any:
        """Per-parameter tables on all ended trials but the excluded ones (see
        :func:`hpo_widgets.analysis.analyze`): correlation with the score, the score per
        value or bin, and importance (the strategy's own estimate when it has one)."""
        from . import analysis

        trials = self.trials
        excluded = [t.id for t in trials if t.excluded is not None]
        return analysis.analyze(trials, self._space, self.minimize, strategy=self._strategy,
                                excluded=excluded, **options)

    @property
    def trials(self) -> list[Trial]:
        """Every trial of this scan (stored and new), by id."""
        with self._lock:
            return self._book.trials.values()   # a new list

    def trial(self, trial_id: int) -> Trial | None:
        """The latest record of one trial (``None`` if this scan has no such id)."""
        with self._lock:
            return self._book.trials.get(int(trial_id))

    @property
    def n_done(self) -> int:
        """Trials that count toward ``max_trials`` (finished, failed, pruned)."""
        return self._book.n_done

    @property
    def counts(self) -> dict[str, int]:
        """Number of trials per status."""
        with self._lock:
            return dict(self._book.counts)

    def _put(self, t: Trial) -> None:
        self._book.put(t)

    @property
    def elapsed(self) -> float:
        """Seconds this scan has been running, over all its sessions."""
        started = self._started_at
        if started is None:
            return self._elapsed_before
        return self._elapsed_before + time.time() - started

    @property
    def best(self) -> Trial | None:
        """The best finished trial (``None`` before the first)."""
        return self._book.best

    @property
    def results(self) -> Any:
        """A pandas DataFrame, one row per trial (index ``trial``): a column per parameter
        and per metric, then ``status``, ``started``, ``duration`` and ``error``.
        Classes and functions show as their names (``Adam``, ``relu``)."""

        if self._book.deferred:
            return self._stored_results()
        trials = self.trials
        metric = self.metric
        metric_names = [metric, *(m for m in trial_metric_names(trials)
                                  if m != metric and m not in self._space)]
        return self._frame([t.id for t in trials], [t.status for t in trials],
                           [t.value for t in trials], [t.started for t in trials],
                           [t.finished for t in trials], [t.error for t in trials],
                           param_columns(trials, list(self._space)),
                           metric_columns(trials, metric_names), metric_names,
                           [t.source for t in trials], [t.excluded for t in trials])

    def _frame(self, ids: list[int], statuses: list[str], values_: list[Any],
               started: list[Any], finished: list[Any], errors: list[Any],
               params: dict[str, list[Any]], metrics: dict[str, list[Any]] | None,
               metric_names: list[str], sources: list[Any] | None = None,
               excluded: list[Any] | None = None) -> Any:
        """The ``results`` frame from columns (shared by live and stored scans): ``params``
        and ``metrics`` map each name to its column.

        ``metrics=None``: the scan's metric is the only one and ``values_`` holds it."""
        import numpy as np
        import pandas as pd

        param_names = list(self._space)
        metric = self.metric
        label = values.label
        cols: dict[str, Any] = {}
        plain = {float, int, str, bool, type(None)}
        for p in param_names:
            col = params.get(p) or [None] * len(ids)
            if not set(map(type, col)) <= plain:   # classes, functions: shown by name
                col = [label(v) for v in col]
            cols[p] = col
        if metrics is None:
            try:
                cols[metric] = np.array(values_, dtype="float64")   # None -> NaN
            except (TypeError, ValueError):   # a stored non-number: to_numeric below
                cols[metric] = list(values_)
        else:
            for m in metric_names:
                cols[m] = metrics.get(m) or [None] * len(ids)
            col = cols[metric]
            for i, st in enumerate(statuses):
                if st == "pruned" and col[i] is None:
                    col[i] = values_[i]
        cols["status"] = statuses
        cols["source"] = sources if sources is not None else [None] * len(ids)
        t0 = np.array(started, dtype="float64")     # None -> NaN
        cols["started"] = pd.to_datetime(t0, unit="s")
        cols["duration"] = np.array(finished, dtype="float64") - t0
        cols["error"] = errors
        cols["excluded"] = excluded if excluded is not None else [None] * len(ids)
        # from an array: a third of the time pandas takes to infer a list of ints
        index = pd.Index(np.array(ids, dtype="int64"), name="trial")
        df = pd.DataFrame(cols, index=index,
                          columns=[*param_names, *metric_names, "status", "source", "started",
                                   "duration", "error", "excluded"])
        df[metric] = pd.to_numeric(df[metric], errors="coerce")
        return df

    def _stored_results(self) -> Any:
        """``results`` of a scan opened for viewing, straight from SQLite (no Trial
        objects): the same frame the live path builds."""
        metric = self.metric
        skip = [i for i, _ in self.skipped_trials]
        with Store.reader(self.path) as s:
            stored_metrics = s.stored_metric_names()
            metric_names = [metric, *(m for m in stored_metrics
                                      if m != metric and m not in self._space)]
            only_metric = set(stored_metrics) <= {metric} and s.get_meta("metric") == metric
            ids, statuses, values_, started, finished, errors, pcols, metrics, sources, \
                excluded = s.frame_columns(skip, list(self._space), metrics=not only_metric)
            locked = s.is_locked()
        if not locked and "running" in statuses:
            statuses = ["interrupted" if st == "running" else st for st in statuses]
        if only_metric:
            # the value column holds the metric of finished trials; the others have
            # theirs (if any) in their metrics, read apart (few)
            shown = list(values_)
            for i, st in enumerate(statuses):
                if st != "finished":
                    x = metrics.get(i, {}).get(metric)
                    shown[i] = values_[i] if x is None and st == "pruned" else x
            values_, mcols = shown, None
        else:
            for i, st in enumerate(statuses):   # a finished row without this metric
                if st == "finished" and not _finite(metrics[i].get(metric)):
                    statuses[i] = "failed"
                    errors[i] = f"stored trial has no metric {metric!r}"
            mcols = {m: [d.get(m) for d in metrics] for m in metric_names}
        return self._frame(ids, statuses, values_, started, finished, errors, pcols,
                           mcols, metric_names, sources, excluded)

    # -- listeners -----------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[ScanEvent], Any]) -> Callable[[ScanEvent], Any]:
        """Call ``listener(event)`` on every :class:`ScanEvent`.

        Listeners run on the scan's threads: keep them quick. One that raises is logged
        and detached; it never stops the scan.
        """
        return self._bus.subscribe(listener)

    def unsubscribe(self, listener: Callable[[ScanEvent], Any]) -> None:
        self._bus.unsubscribe(listener)

    @property
    def _listeners(self) -> list[Callable[[ScanEvent], Any]]:   # read by older tests
        return self._bus.listeners()

    def _emit(self, event: ScanEvent) -> None:
        self._bus.emit(event)

    def _emit_kind(self, kind: str, trial: Trial | None = None, step: float | None = None,
                   value: float | None = None) -> None:
        self._bus.emit(ScanEvent(kind, self, trial=trial, step=step, value=value))

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def _store(self) -> Store:
        """A writable handle on this scan's store (the driver's while it runs)."""
        if self._writer is None:
            self._writer = Store(self.path)
        return self._writer

    def start(self) -> Scan:
        """Start (or continue) the scan in the background; returns at once.

        Takes the run lock, then re-reads the store: whatever another object or process
        stored meanwhile is kept, and new trials get ids never used before.
        """
        driver = self._driver
        if self._control.phase == "ending" and driver is not None \
                and threading.current_thread() is not driver.thread:
            self.wait()   # the last session is handing back its lock: then start anew
        with self._lock:
            if self._control.phase != "idle":
                if self._control.paused:
                    self.resume()
                return self
            if self.objective is None:
                if self._stored_meta.get("kind") == "keras":
                    raise ValueError(
                        f"scan {self.name!r} is a KerasScan loaded for its results; resume "
                        f"it by re-running hw.KerasScan(build, space, x, y, "
                        f"name={self.name!r}, store={str(self.path.parent)!r}, ...)")
                raise ValueError(
                    f"scan {self.name!r} was loaded without an objective; reopen it with "
                    f"hw.load({str(self.path)!r}, objective=your_function) to resume it")
            store = self._store
            try:
                store.acquire()
            except ScanLocked:
                if any(o.path == self.path for o in list(_running) if o is not self):
                    raise ScanLocked(
                        f"scan {self.name!r} is already running in this kernel; stop it "
                        f"first (hw.scans() lists it; %hpo stop {self.name}) or give this "
                        "scan another name=") from None
                raise
            try:
                # we hold the lock: what is stored is the truth, rows left running are dead.
                # Every session writes its own id to meta; if the last one is still the
                # one this object ran or read, nobody wrote since and memory is the store.
                store.mark_interrupted()
                stored_session = store.get_meta("session")
                if stored_session is None or stored_session != self._seen_session \
                        or self._book.deferred:
                    self._take_stored(store.trials(), list(store.skipped), interrupted=True)
                    self._feed_pruner()
                self._flush_log(store)   # settings changed while idle
                session = uuid.uuid4().hex
                store.set_meta("session", session)
                self._seen_session = session
                self._elapsed_before = max(self._elapsed_before,
                                           float(store.get_meta("elapsed", 0.0) or 0.0))
                next_id = store.next_id()
                ctl = self._control
                ctl.inbox = type(ctl.inbox)()
                ctl.paused = ctl.stop_requested = False
                self.exception = None
                self._done.clear()
                self._started_at = time.time()
                self._driver = Driver(
                    plan=_Plan(self), book=self._book, control=ctl, store=store,
                    objective=self.objective, pass_trial=self._pass_trial,
                    make_runner=self._make_runner, emit=self._emit_kind,
                    set_status=self._set_status, next_id=next_id, elapsed=lambda: self.elapsed)
                self._driver.thread.name = f"hpo-driver-{self.name}"
                ctl.phase = "running"
                _running.add(self)
                _live[str(self.path)] = self
                self._set_status("running", "")
                store.update_meta({**self._meta(), "status": "running", "message": "",
                                   "elapsed": self._elapsed_before})
            except BaseException:
                self._control.phase = "idle"
                self._done.set()
                store.release()
                raise
            self._driver.thread.start()
            threading.Thread(target=self._after, args=(self._driver,), daemon=True,
                             name=f"hpo-after-{self.name}").start()
        return self

    def _after(self, driver: Driver) -> None:
        """Once the driver has ended: give the run lock back, then tell ``wait()``."""
        driver.thread.join()
        with self._lock:
            self.exception = driver.exception
            self._elapsed_before = self.elapsed
            self._started_at = None
            self._control.phase = "idle"
            with contextlib.suppress(Exception):
                self._store.release()
        _running.discard(self)
        self._done.set()

    # -- control: applied under the one lock the driver ends under ----------------------------
    def pause(self) -> None:
        """Start no new trials; running ones finish and are recorded."""
        with self._lock:
            ctl = self._control
            if ctl.phase == "running" and ctl.status == "running":
                ctl.paused = True
                self._set_status("paused")
                ctl.wake()

    def resume(self) -> None:
        """Undo :meth:`pause` (or :meth:`start` a scan that is not running)."""
        with self._lock:
            ctl = self._control
            if ctl.phase == "running":
                if ctl.status == "paused":
                    ctl.paused = False
                    self._set_status("running")
                    ctl.wake()
                return
        if self._control.phase == "idle":
            self.wait()
            self.start()

    def stop(self, wait: bool = False) -> None:
        """Start no new trials; let running ones finish and be recorded, then end with
        status ``"stopped"``. Returns at once unless ``wait=True``."""
        with self._lock:
            ctl = self._control
            if ctl.phase == "running" and ctl.status in ("running", "paused"):
                ctl.stop_requested = True
                ctl.paused = False
                self._set_status("stopping")
                ctl.wake()
        if wait:
            self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the scan ends (or ``timeout`` seconds pass); ``True`` if it ended."""
        return self._done.wait(timeout)

    def _wake(self) -> None:
        self._control.wake()

    def _set_status(self, status: str, message: str | None = None) -> None:
        """The one place a scan's status changes (always under the scan's lock)."""
        with self._lock:
            ctl = self._control
            changed = status != ctl.status or (message is not None and message != ctl.message)
            ctl.status = status
            if message is not None:
                ctl.message = message
            if changed:
                ctl.inbox.put(("persist",))   # the driver stores it
                self._emit(ScanEvent("status", self))

    def _make_runner(self) -> Any:
        return make_runner(self.executor, n_jobs=self.n_jobs, trial_timeout=self.trial_timeout,
                           name=self.name, owned=self._owns_executor)

    # -- display (the widgets are looked up by name, never imported here) ---------------------
    def dashboard(self) -> Any:
        """The live dashboard widget of this scan (one per scan; each display is a view)."""
        dash = getattr(self, "_dashboard", None)
        if dash is None or getattr(dash, "comm", None) is None:
            dash = self._dashboard = _view("dashboard")(self)
        return dash

    def dock(self, *, title: str | None = None) -> Any:
        """Show the dashboard in JupyterLab's right side panel (inline elsewhere)."""
        return _view("dock")(self, title=title)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        # In a Jupyter kernel a scan displays as its dashboard; elsewhere as text.
        if not _in_kernel():
            return {"text/plain": repr(self)}
        try:
            bundle = self.dashboard()._repr_mimebundle_(include=include, exclude=exclude)
        except ImportError:
            return {"text/plain": repr(self)}
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        c = self.counts
        best = self.best
        b = "" if best is None else f", best {self.metric}={best.value:.6g}"
        return (f"<Scan {self.name!r} {self.status}: {self.n_done}"
                f"{'' if self.max_trials is None else '/' + str(self.max_trials)} trials "
                f"({c['failed']} failed, {c['running']} running){b}>")

    def close(self) -> None:
        """Stop the scan and close its database."""
        self.stop(wait=True)
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def load(path: str | os.PathLike[str], objective: Callable[..., Any] | None = None,
         **options: Any) -> Scan:
    """Reopen a stored scan: ``hw.load("hpo_scans/mlp")``.

    Without ``objective=`` it is opened for viewing, read-only: nothing is written (a
    finished scan stays finished; a read-only folder works). Pass ``objective=`` to
    resume it with ``.start()``. Other keyword arguments override stored settings
    (e.g. ``max_trials=300`` to extend it). A damaged database raises
    :class:`~hpo_widgets.store.StoreCorrupt` naming the file; undecodable rows are
    skipped with a warning and listed in ``scan.skipped_trials``.
    """
    p = Path(path).expanduser()
    with Store.reader(p) as s:
        meta = s.meta()
        bad = dict(s.bad_meta)
    if "space" not in meta:
        why = f" (unreadable: {bad['space']})" if "space" in bad else ""
        raise ValueError(f"{str(p)!r} holds no scan settings{why} (was it written by "
                         "hpo_widgets?)")
    if bad:
        warnings.warn(f"{str(p)!r}: stored settings {sorted(bad)} could not be read; using "
                      "defaults for them", UserWarning, stacklevel=2)
    if meta.get("kind") == "keras" and objective is not None:
        raise ValueError(
            f"{str(p)!r} is a KerasScan: its trials need the data split and the build "
            f"function, so resume it by re-running hw.KerasScan(build, space, x, y, "
            f"name={p.name!r}, store={str(p.parent)!r}, ...) (it continues the stored "
            "trials); hw.load without objective= shows its results")
    space = Space({n: _param(d) for n, d in meta["space"].items()})
    strategy = options.pop("strategy", None)
    if strategy is None:
        strategy = (meta.get("strategy") or {}).get("name", "random")
        try:
            make_strategy(strategy)
        except (ValueError, TypeError):
            log.warning("stored strategy %r is not available here; using random", strategy)
            strategy = "random"
    pruner = options.pop("pruner", (meta.get("pruner") or {}).get("name"))
    settings: dict[str, Any] = ScanOptions.from_meta(meta)
    settings.setdefault("max_trials", None)
    if options.get("executor") is not None:
        settings.pop("n_jobs", None)
    if objective is None:
        # viewing: no runner will start, so nothing here may refuse the stored settings
        executor = None
        options.pop("executor", None)
    else:
        executor = options.pop("executor", None)
    if "mode" not in options and options.get("metric", meta.get("metric")) != meta.get("metric"):
        settings.pop("mode", None)   # the stored direction was the stored metric's
    settings.update(options)
    scan = Scan(objective, space, strategy=strategy, pruner=pruner if objective else None,
                executor=executor, name=p.name, store=p.parent, **settings)
    if objective is None and pruner is not None:
        scan.pruner = make_pruner(pruner)
    if meta.get("kind"):
        scan._stored_meta.setdefault("kind", meta["kind"])
    return scan


def _finite(v: Any) -> bool:
    """Whether a stored metric scores a trial (as :func:`driver.rescore` decides)."""
    x = as_number(v)
    return x is not None and math.isfinite(x)


def _stored_label(v: Any) -> Any:
    """A stored parameter value as ``results`` shows it (an encoded class -> its name)."""
    if isinstance(v, str) and v.startswith('{"$'):
        import json

        with contextlib.suppress(Exception):
            return values.label(values.decode(json.loads(v)))
    return v


def _plain_json(v: Any) -> Any:
    """A settings-history value as JSON (classes and functions by their label)."""
    if isinstance(v, Mapping):
        return {str(k): _plain_json(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain_json(x) for x in v]
    item = getattr(v, "item", None)   # numpy scalars
    if callable(item) and getattr(v, "shape", None) == ():
        v = item()
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return values.label(v)


def _param(d: dict[str, Any]) -> Any:
    from .space import _param_from_dict

    return _param_from_dict(d)


def scans(store: str | os.PathLike[str] = "hpo_scans") -> Any:
    """A DataFrame of the scans in this kernel and in ``store``, with their status.

    Reads only. A stored scan that cannot be read is listed with status ``unreadable``
    and the reason in ``message``.
    """
    import pandas as pd

    rows: dict[str, dict[str, Any]] = {}
    for rec in list_stored(store):
        rec["where"] = "store"
        rows[rec["path"]] = rec
    for path, sc in list(_live.items()):
        best = sc.best
        rows[path] = {"name": sc.name, "path": path, "status": sc.status,
                      "trials": sc.n_done, "failed": sc.counts["failed"], "metric": sc.metric,
                      "mode": sc.mode, "best": None if best is None else best.value,
                      "updated": None, "where": "kernel", "message": sc.message}
    cols = ["name", "status", "trials", "failed", "best", "metric", "mode", "where", "path",
            "message"]
    return pd.DataFrame(list(rows.values()), columns=cols)
