"""The driver: the one thread that runs a scan, and the state it owns.

:class:`TrialBook` is a scan's trials in memory (by id, in the order they ended, counts
per status, the best). :class:`Control` is its status and the commands waiting for the
driver. :class:`Driver` is the loop: the strategy proposes -> the runner executes ->
the store commits -> the strategy learns -> listeners are told. It is the only writer of
the store and the only caller of the strategy; pause/resume/stop reach it as flags set
under :attr:`Control.lock` plus a wake-up message, and it writes the final status under
that same lock, so a command racing the end of a scan is either applied before the end or
refused after it, never half of each.

Knows nothing of ``Scan``: the scan hands it its parts and a few callbacks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import queue
import threading
import time
import traceback as _tb
import uuid
from collections.abc import Callable
from typing import Any

from .outcome import as_number, interpret
from .trial import Trial, TrialHandle

__all__ = ["Control", "Driver", "TrialBook"]

log = logging.getLogger("hpo_widgets")

#: Every status a scan can have.
SCAN_STATUSES = ("idle", "running", "paused", "stopping", "stopped", "finished", "failed")
_COUNTED = ("finished", "failed", "pruned", "running", "interrupted")


class TrialsById:
    """A scan's trials by id (``get``, ``values`` in id order, ``len``), kept in a list
    indexed by id, because ids are dense (given out one by one, never reused): 8 bytes a trial where
    a dict takes ~50 at 100,000 trials (``bench/scale.py``'s kernel memory). Ids far
    apart (a store someone edited by hand) switch it to a dict, never to a huge list."""

    __slots__ = ("_at", "_by", "_n")

    _GAP = 1 << 16   # a jump in ids this large is not a scan's own numbering

    def __init__(self, trials: list[Trial] = ()) -> None:
        self._at: list[Trial | None] = []
        self._by: dict[int, Trial] | None = None
        self._n = 0
        for t in trials:
            self[t.id] = t

    def __setitem__(self, tid: int, t: Trial) -> None:
        by = self._by
        if by is None and not 0 <= tid < len(self._at) + self._GAP:
            by = self._by = {x.id: x for x in self._at if x is not None}
            self._at = []
        if by is not None:
            by[tid] = t
            self._n = len(by)
            return
        at = self._at
        if tid >= len(at):
            at.extend([None] * (tid + 1 - len(at)))
        if at[tid] is None:
            self._n += 1
        at[tid] = t

    def get(self, tid: int, default: Trial | None = None) -> Trial | None:
        if self._by is not None:
            return self._by.get(tid, default)
        if 0 <= tid < len(self._at):
            t = self._at[tid]
            return default if t is None else t
        return default

    def __len__(self) -> int:
        return self._n

    def values(self) -> list[Trial]:
        """The trials by id (a new list)."""
        if self._by is not None:
            return [self._by[i] for i in sorted(self._by)]
        at = self._at
        return at[:] if self._n == len(at) else [t for t in at if t is not None]


class TrialBook:
    """A scan's trials in memory; counts and best follow each change in O(1) and can be
    rebuilt from the trials at any time (:meth:`recount`)."""

    def __init__(self, lock: threading.RLock, minimize: bool) -> None:
        self.lock = lock
        self.minimize = minimize
        self._trials = TrialsById()
        self._history: list[Trial] = []   # ended trials in the order they ended
        self._counts: dict[str, int] = dict.fromkeys(_COUNTED, 0)
        self._best: Trial | None = None
        self._n_excluded = 0   # ended trials left out of learning (scan.exclude)
        self._loader: Callable[[], list[Trial]] | None = None
        self._summary: tuple[dict[str, int], int, Trial | None] | None = None

    # A stored scan opened for viewing defers building its Trial objects until someone
    # needs them: counts, n_done and best come from a summary the store computed.
    def defer(self, loader: Callable[[], list[Trial]], counts: dict[str, int],
              best: Trial | None) -> None:
        with self.lock:
            full = dict.fromkeys(_COUNTED, 0)
            full.update(counts)
            n_done = sum(full.get(k, 0) for k in ("finished", "failed", "pruned"))
            self._loader, self._summary = loader, (full, n_done, best)

    @property
    def deferred(self) -> bool:
        return self._loader is not None

    def ensure(self) -> None:
        """Build the Trial objects now if they were deferred."""
        if self._loader is None:
            return
        with self.lock:
            loader = self._loader
            if loader is not None:
                self.reset(loader())

    @property
    def trials(self) -> TrialsById:
        self.ensure()
        return self._trials

    @property
    def history(self) -> list[Trial]:
        self.ensure()
        return self._history

    @property
    def counts(self) -> dict[str, int]:
        s = self._summary
        return s[0] if s is not None and self._loader is not None else self._counts

    @property
    def n_done(self) -> int:
        s = self._summary
        return s[1] if s is not None and self._loader is not None else len(self._history)

    @property
    def best(self) -> Trial | None:
        s = self._summary
        return s[2] if s is not None and self._loader is not None else self._best

    def _better(self, t: Trial) -> bool:
        b = self._best
        return b is None or (t.value < b.value if self.minimize  # type: ignore[operator]
                             else t.value > b.value)  # type: ignore[operator]

    def put(self, t: Trial) -> None:
        self.ensure()
        with self.lock:
            old = self._trials.get(t.id)
            self._n_excluded += (t.excluded is not None) - (
                old is not None and old.excluded is not None)
            if old is not None:
                self._counts[old.status] -= 1
            self._counts[t.status] = self._counts.get(t.status, 0) + 1
            self._trials[t.id] = t
            if t.done and (old is None or not old.done):
                self._history.append(t)
            elif old is not None and old.done and t.done:
                # an ended trial updated (e.g. evaluate() added metrics): same place
                for i in range(len(self._history) - 1, -1, -1):
                    if self._history[i].id == t.id:
                        self._history[i] = t
                        break
            if t.status == "finished" and t.value is not None and t.excluded is None \
                    and self._better(t):
                self._best = t
            elif self._best is not None and self._best.id == t.id:
                self._rebest()

    def reset(self, trials: list[Trial]) -> None:
        """Replace everything with ``trials`` (as read from the store, by id)."""
        with self.lock:
            self._loader = self._summary = None
            self._trials = TrialsById(trials)
            ended = [t for t in trials if t.done]
            ended.sort(key=lambda t: (t.finished is None, t.finished or 0.0, t.id))
            self._history = ended
            self._n_excluded = sum(1 for t in trials if t.excluded is not None)
            self.recount()
            self._rebest()

    def _rebest(self) -> None:
        self._best = None
        for t in self._history:
            if t.status == "finished" and t.value is not None and t.excluded is None \
                    and self._better(t):
                self._best = t

    def recount(self) -> None:
        with self.lock:
            counts = dict.fromkeys(_COUNTED, 0)
            for t in self._trials.values():
                counts[t.status] = counts.get(t.status, 0) + 1
            self._counts = counts

    def learnt(self) -> list[Trial]:
        """The ended trials strategies and pruners learn from: the history less the
        excluded ones (the history itself, no copy, when none is excluded)."""
        history = self.history
        if not self._n_excluded:
            return history
        return [t for t in history if t.excluded is None]

    def queued(self) -> list[Trial]:
        """Enqueued trials not started yet, oldest first (they run before proposals)."""
        with self.lock:
            if not self._counts.get("queued"):
                return []
            return sorted((t for t in self.trials.values() if t.status == "queued"),
                          key=lambda t: t.id)

    def running(self) -> list[Trial]:
        with self.lock:
            return [t for t in self.trials.values() if t.status == "running"]


@dataclasses.dataclass
class Control:
    """A scan's status and the commands for its driver; every field under :attr:`lock`."""

    lock: threading.RLock
    status: str = "idle"
    message: str = ""
    phase: str = "idle"          # "idle" | "running" (a driver takes commands) | "ending"
    paused: bool = False
    stop_requested: bool = False
    inbox: queue.SimpleQueue[tuple[Any, ...]] = dataclasses.field(
        default_factory=queue.SimpleQueue)

    def wake(self) -> None:
        self.inbox.put(("wake",))


@dataclasses.dataclass
class _Slot:
    trial: Trial
    handle: TrialHandle
    fut: Any
    started: float | None = None   # when it really started (None while queued)


class Driver:
    """Runs one session of a scan (from ``start()`` to its end) in its own thread.

    ``plan`` is read on every step: ``plan.space``, ``plan.strategy``, ``plan.pruner``,
    ``plan.max_trials``, ``plan.options`` (time_limit, trial_timeout, n_jobs,
    max_consecutive_failures, metric, name), ``plan.meta()`` (the settings to store).
    """

    def __init__(self, *, plan: Any, book: TrialBook, control: Control, store: Any,
                 objective: Callable[..., Any], pass_trial: bool,
                 make_runner: Callable[[], Any], emit: Callable[..., None],
                 set_status: Callable[[str, str | None], None], next_id: int,
                 elapsed: Callable[[], float]) -> None:
        self.plan, self.book, self.control, self.store = plan, book, control, store
        self.objective, self.pass_trial = objective, pass_trial
        self.make_runner, self.emit, self.set_status = make_runner, emit, set_status
        self.elapsed = elapsed
        self.next_id = next_id
        self.runner: Any = None
        self.exception: BaseException | None = None
        self.note: str | None = None
        self._slots: dict[int, _Slot] = {}
        self._held: dict[int, Any] = {}   # timed out, but the runner cannot free the slot
        self._session = uuid.uuid4().hex[:8]   # task keys unique across sessions (Dask)
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"hpo-driver-{plan.options.name}")

    # -- what others may ask ---------------------------------------------------------------
    def runner_note(self) -> str | None:
        note = None
        fn = getattr(self.runner, "note", None)
        if callable(fn):
            with contextlib.suppress(Exception):
                note = fn()
        return note or self.note

    # -- the loop ---------------------------------------------------------------------------
    def _persist(self) -> None:
        with self.control.lock:
            status, message = self.control.status, self.control.message
        self.store.update_meta({**self.plan.meta(), "status": status, "message": message,
                                "elapsed": self.elapsed()})

    def _run(self) -> None:
        ctl, opts = self.control, self.plan.options
        final_status, final_message = "finished", ""
        exhausted = False
        failures_in_row = 0
        session_start = time.time()
        try:
            self.runner = self.make_runner()
            caps = self.runner.caps
            learnt = caps.slots is None
            while True:
                opts = self.plan.options
                now = time.time()
                self._observe_starts(now)
                with ctl.lock:
                    stopping, paused = ctl.stop_requested, ctl.paused
                out_of_time = (opts.time_limit is not None
                               and now - session_start >= opts.time_limit)
                max_trials = self.plan.max_trials
                n_done = self.book.n_done
                full = max_trials is not None and n_done >= max_trials
                launching = not (stopping or paused or exhausted or out_of_time
                                 or failures_in_row >= opts.max_consecutive_failures)
                slots = self.plan.n_jobs
                while launching and len(self._slots) + len(self._held) < slots and (
                        max_trials is None or n_done + len(self._slots) < max_trials) and (
                        not learnt or all(s.started is not None
                                          for s in self._slots.values())):
                    waiting = self.book.queued()
                    if waiting:   # the user's ideas run before the strategy's own
                        self._launch(waiting[0].params, queued=waiting[0])
                        self._observe_starts(time.time())
                        continue
                    params = self._ask()
                    if params is None:
                        exhausted = True
                        break
                    self._launch(params)
                    self._observe_starts(time.time())
                if stopping:
                    self._cancel_queued("the scan was stopped before this trial started")
                if not self._slots:
                    if stopping:
                        final_status, final_message = "stopped", "stopped"
                        break
                    if failures_in_row >= opts.max_consecutive_failures:
                        last = self.book.history[-1].error if self.book.history else ""
                        final_status = "failed"
                        final_message = (f"stopped after {failures_in_row} failed trials in a "
                                         f"row; last error: {last}")
                        break
                    if full:
                        final_message = f"max_trials reached ({max_trials})"
                        break
                    if exhausted:
                        final_message = "the strategy has no points left (grid exhausted)"
                        break
                    if out_of_time:
                        final_message = f"time_limit reached ({opts.time_limit:g} s)"
                        break
                msg = self._next_message(session_start, launching, paused, stopping)
                while msg is not None:
                    kind = msg[0]
                    if kind == "done" and msg[1] in self._slots:
                        slot = self._slots.pop(msg[1])
                        ended = self._finish(slot, self._outcome(slot.fut))
                        failures_in_row = failures_in_row + 1 if ended.status == "failed" else 0
                    elif kind == "held_done":
                        self._held.pop(msg[1], None)
                        self._update_note()
                    elif kind == "persist":
                        self._persist()
                    elif kind == "apply":
                        self._apply(msg[1])
                    try:
                        msg = ctl.inbox.get_nowait()
                    except queue.Empty:
                        msg = None
                failures_in_row += self._timeouts(caps)
        except BaseException as e:
            self.exception = e
            final_status = "failed"
            final_message = f"the scan's driver failed: {type(e).__name__}: {e}"
            log.exception("scan %r failed", opts.name)
            for slot in list(self._slots.values()):
                with contextlib.suppress(Exception):
                    slot.fut.cancel()
        finally:
            self._end(final_status, final_message)

    def _apply(self, fn: Callable[[Driver], Any]) -> None:
        """A change a scan asked for (enqueue, exclude, the settings history), applied
        here so that the driver stays the one writer of the store and the book."""
        try:
            fn(self)
        except Exception:
            log.exception("scan %r: a requested change could not be applied",
                          self.plan.options.name)

    def reserve_id(self) -> int:
        """A fresh trial id (ids are never reused); under the control lock, since
        ``scan.enqueue`` reserves ids from the user's thread."""
        with self.control.lock:
            tid = self.next_id
            self.next_id += 1
        return tid

    def _next_message(self, session_start: float, launching: bool, paused: bool,
                      stopping: bool) -> tuple[Any, ...] | None:
        """Sleep until something happens: a trial ends, a command, a deadline."""
        opts = self.plan.options
        timeout: float | None = None
        if opts.time_limit is not None and launching:
            timeout = max(0.0, session_start + opts.time_limit - time.time())
        if opts.trial_timeout is not None:
            started = [s.started for s in self._slots.values() if s.started is not None]
            if started:
                t_left = max(0.0, min(started) + opts.trial_timeout - time.time())
                timeout = t_left if timeout is None else min(timeout, t_left)
        if any(s.started is None for s in self._slots.values()):
            # a queued trial's start is not announced by a plain Executor: look again soon
            timeout = 0.02 if timeout is None else min(timeout, 0.02)
        if paused and not self._slots and not stopping:
            timeout = None  # wait for resume/stop
        try:
            return self.control.inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def _observe_starts(self, now: float) -> None:
        for slot in self._slots.values():
            if slot.started is None and _has_started(slot.fut):
                slot.started = now

    def _timeouts(self, caps: Any) -> int:
        limit = self.plan.options.trial_timeout
        if limit is None:
            return 0
        now = time.time()
        n = 0
        for tid, slot in list(self._slots.items()):
            if slot.started is None or now - slot.started < limit:
                continue
            self._slots.pop(tid)
            if caps.can_abandon:
                self.runner.abandon(slot.fut)
                how = "was abandoned"
            else:
                # the runner cannot stop it: its slot stays taken until it returns (not
                # cancelled: a cancelled Dask future would say "done" while its task
                # still holds a worker thread)
                self._held[tid] = slot.fut
                slot.fut.add_done_callback(
                    lambda f, tid=tid: self.control.inbox.put(("held_done", tid)))
                how = (f"is still running: {caps.label} cannot stop a running task, so it "
                       "holds its slot until it returns")
            self._finish(slot, {
                "error": f"TimeoutError: trial ran longer than trial_timeout={limit:g} s and "
                         f"{how}", "curve": list(slot.handle.curve), "started": slot.started,
                "finished": now})
            n += 1
        self._update_note()
        return n

    def _update_note(self) -> None:
        if self._held:
            label = getattr(getattr(self.runner, "caps", None), "label", "the executor")
            self.note = (f"{len(self._held)} slot(s) held by timed-out trial(s) "
                         f"{sorted(self._held)} that {label} cannot stop; executor=None "
                         "(kernel threads) or ProcessWorkers can abandon hung trials")
        else:
            self.note = None

    def _cancel_queued(self, why: str) -> None:
        for tid, slot in list(self._slots.items()):
            if slot.started is None and slot.fut.cancel():
                self._slots.pop(tid)
                t = slot.trial.replace(status="interrupted", error=why, finished=time.time())
                self.store.update(t)
                self.book.put(t)
                self.emit("trial_finished", trial=t)

    def _end(self, status: str, message: str) -> None:
        ctl = self.control
        with contextlib.suppress(Exception):
            if self.runner is not None:
                self.runner.shutdown()
        # every trial this session left without an end: interrupted, never "running"
        why = "the scan ended before this trial did" if self.exception is None else \
            f"the scan's driver failed: {type(self.exception).__name__}"
        for t in self.book.running():
            t = t.replace(status="interrupted", error=why)
            with contextlib.suppress(Exception):
                self.store.update(t)
            self.book.put(t)
        self.book.recount()
        with ctl.lock:
            ctl.phase = "ending"          # from here on, commands are refused
            ctl.paused = ctl.stop_requested = False
            self.set_status(status, message)
        # changes sent before the phase changed are applied, never dropped
        while True:
            try:
                msg = ctl.inbox.get_nowait()
            except queue.Empty:
                break
            if msg[0] == "apply":
                self._apply(msg[1])
        with contextlib.suppress(Exception):
            self._persist()

    # -- one trial ----------------------------------------------------------------------------
    def _ask(self) -> dict[str, Any] | None:
        space = self.plan.space
        strategy = self.plan.strategy
        pending = [s.trial.params for s in self._slots.values()]
        params = strategy.ask(space, self.book.learnt(), pending)
        if params is None:
            return None
        if not isinstance(params, dict):
            raise TypeError(f"strategy {strategy!r} proposed {params!r}, not a dict")
        missing = [n for n in space if n not in params]
        if missing:
            raise ValueError(f"strategy {strategy!r} proposed a point without {missing}")
        return params

    def _launch(self, params: dict[str, Any], queued: Trial | None = None) -> None:
        if queued is not None:   # an enqueued trial: its own row, now running
            tid = queued.id
            trial = queued.replace(status="running", started=time.time())
            self.store.update(trial)
        else:
            tid = self.reserve_id()
            trial = Trial(id=tid, params=params, status="running", started=time.time(),
                          source=getattr(self.plan.strategy, "name", None))
            self.store.insert(trial)   # a new row, never over another trial's
        self.book.put(trial)
        live = self.runner.caps.reports_live
        pruner = self.plan.pruner
        handle = TrialHandle(tid, params, sink=self._on_report if live else None,
                             pruner=self._should_prune if (live and pruner) else None)
        self.emit("trial_started", trial=trial)
        fut = self.runner.submit_trial(
            self.objective, params, handle, self.pass_trial,
            key=f"hpo-{self.plan.options.name}-{tid}-{self._session}")
        self._slots[tid] = _Slot(trial, handle, fut)
        fut.add_done_callback(lambda f, tid=tid: self.control.inbox.put(("done", tid)))

    def _on_report(self, handle: TrialHandle, step: float, value: float) -> None:
        pruner = self.plan.pruner
        if pruner is not None:
            pruner.report(handle.id, step, value)
        self.emit("trial_reported", trial=self.book.trials.get(handle.id), step=step,
                  value=value)

    def _should_prune(self, handle: TrialHandle) -> bool:
        pruner = self.plan.pruner
        return bool(pruner is not None and pruner.should_prune(handle.id))

    @staticmethod
    def _outcome(fut: Any) -> dict[str, Any]:
        try:
            return fut.result()
        except BaseException as e:  # noqa: BLE001 - lost worker, cancelled, unpicklable...
            return {"error": f"{type(e).__name__}: {e}", "traceback": _tb.format_exc()}

    def _finish(self, slot: _Slot, outcome: dict[str, Any]) -> Trial:
        status, metrics, value, error = interpret(outcome, self.plan.options.metric)
        curve = outcome.get("curve") or slot.handle.curve
        ended = slot.trial.replace(
            status=status, metrics=metrics, value=value, error=error,
            traceback=outcome.get("traceback") if status == "failed" else None,
            started=outcome.get("started", slot.started or slot.trial.started),
            finished=outcome.get("finished", time.time()),
            curve=tuple((float(s), float(v)) for s, v in curve),
            worker=outcome.get("worker"))
        self.store.update(ended)  # committed before anyone hears of it
        self.book.put(ended)
        try:
            self.plan.strategy.tell(ended)
        except Exception:
            log.exception("scan %r: strategy.tell raised", self.plan.options.name)
        pruner = self.plan.pruner
        if pruner is not None:
            try:
                pruner.complete(ended)
            except Exception:
                log.exception("scan %r: pruner.complete raised", self.plan.options.name)
        self.emit("trial_finished", trial=ended)
        return ended


def _has_started(fut: Any) -> bool:
    """Whether a future's task runs (or ran). One that cannot say (a Dask future: the
    cluster has exactly its declared slots) counts as started when submitted."""
    running = getattr(fut, "running", None)
    return True if running is None else bool(running() or fut.done())


def rescore(t: Trial, metric: str) -> Trial:
    """A stored trial's value under ``metric`` (a reopened scan may use another one)."""
    if t.status != "finished":
        return t
    raw = t.metrics.get(metric)
    v = raw if type(raw) is float else as_number(raw)
    if v is None or not math.isfinite(v):
        return t.replace(status="failed", value=None, error=(
            f"stored trial has no metric {metric!r} (it has {sorted(t.metrics)})"))
    return t if t.value == v else t.replace(value=v)
