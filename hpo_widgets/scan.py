"""The engine: a scan runs trials in the background and tells listeners what happens.

Data flows one way: the strategy proposes -> a runner executes the objective (a
kernel thread, any ``concurrent.futures.Executor``, or a Dask cluster) -> the store
commits the result -> the strategy learns -> listeners are told. One driver thread
owns the loop; it is the only writer of the store and the only caller of the
strategy, so neither needs to be thread-safe. The engine knows nothing of widgets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import difflib
import inspect
import logging
import math
import numbers
import os
import queue
import socket
import threading
import time
import traceback as _tb
import uuid
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from .pruning import Pruner, make_pruner
from .space import Space
from .store import ScanLocked, Store, list_stored, scan_dir
from .strategies import Strategy, make_strategy
from .trial import Trial, TrialHandle, TrialPruned

__all__ = ["SCAN_STATUSES", "Scan", "ScanEvent", "load", "scans"]

log = logging.getLogger("hpo_widgets")

#: Every status a scan can have.
SCAN_STATUSES = ("idle", "running", "paused", "stopping", "finished", "failed")

_LOSS_WORDS = ("loss", "error", "err", "mse", "mae", "rmse", "mape", "regret", "cost",
               "time", "perplexity", "value")
_GAIN_WORDS = ("acc", "f1", "auc", "precision", "recall", "score", "r2", "mcc",
               "balanced", "fbeta", "iou", "dice", "reward", "return")


def infer_mode(metric: str) -> str | None:
    """``"min"`` for loss-like metric names, ``"max"`` for score-like ones, else ``None``."""
    m = metric.lower()
    for prefix in ("val_", "test_", "train_"):
        if m.startswith(prefix):
            m = m[len(prefix):]
    if any(w in m for w in _GAIN_WORDS):
        return "max"
    if any(w in m for w in _LOSS_WORDS):
        return "min"
    return None


@dataclasses.dataclass(frozen=True)
class ScanEvent:
    """What listeners receive.

    ``kind`` is one of ``"trial_started"``, ``"trial_reported"`` (``step``, ``value``
    set), ``"trial_finished"`` (the trial ended: finished, failed or pruned; already
    committed to the store), ``"status"`` and ``"space"``.
    """

    kind: str
    scan: Scan
    trial: Trial | None = None
    step: float | None = None
    value: float | None = None


# -- running one trial (this function travels to threads, processes and Dask workers) ----
def run_trial(objective: Callable[..., Any], params: dict[str, Any], handle: TrialHandle,
              pass_trial: bool) -> dict[str, Any]:
    """Call the objective and catch everything; returns a plain, picklable outcome."""
    started = time.time()
    handle.started = started
    out: dict[str, Any] = {"result": None, "error": None, "traceback": None}
    try:
        out["result"] = objective(params, handle) if pass_trial else objective(params)
    except TrialPruned:
        handle.pruned = True
    except BaseException as e:  # noqa: BLE001 - a trial's failure must never kill the scan
        out["error"] = f"{type(e).__name__}: {e}"
        out["traceback"] = _tb.format_exc()
    out.update(curve=list(handle.curve), pruned=handle.pruned, started=started,
               finished=time.time(), worker=f"{socket.gethostname()}:{os.getpid()}:"
                                             f"{threading.current_thread().name}")
    return out


_Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class _ThreadRunner:
    """A small pool of daemon threads in this process.

    Not ``ThreadPoolExecutor``: a hung trial must be abandonable (its thread is left
    behind and replaced), and daemon threads never block the interpreter's exit.
    """

    def __init__(self, n: int, name: str) -> None:
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._name = name
        self._threads: list[threading.Thread] = []
        self._n = n
        for _ in range(n):
            self._spawn()

    def _spawn(self) -> None:
        t = threading.Thread(target=self._work, name=f"hpo-{self._name}-{len(self._threads)}",
                             daemon=True)
        self._threads.append(t)
        t.start()

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            fut, fn, args = task
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001
                fut.set_exception(e)

    def submit(self, fn: Callable[..., Any], *args: Any, key: str = "") -> Future[Any]:
        fut: Future[Any] = Future()
        self._tasks.put((fut, fn, args))
        return fut

    live_handle = True   # same process: reports reach the scan as they happen

    def submit_trial(self, objective: Any, params: dict[str, Any], handle: TrialHandle,
                     pass_trial: bool, key: str = "") -> Future[Any]:
        return self.submit(run_trial, objective, params, handle, pass_trial)

    def abandon(self, fut: Any) -> None:
        """A trial hangs: leave its thread behind and start a replacement."""
        self._spawn()

    def shutdown(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)


class _InlineRunner:
    """One trial at a time, run by the driver thread itself.

    With ``n_jobs=1`` and no ``trial_timeout`` a worker thread buys nothing but two
    thread hand-offs per trial (a good part of the engine's cost on fast objectives).
    """

    live_handle = True

    def submit_trial(self, objective: Any, params: dict[str, Any], handle: TrialHandle,
                     pass_trial: bool, key: str = "") -> Future[Any]:
        fut: Future[Any] = Future()
        fut.set_running_or_notify_cancel()
        fut.set_result(run_trial(objective, params, handle, pass_trial))
        return fut

    def abandon(self, fut: Any) -> None:  # pragma: no cover - no timeout inline
        pass

    def shutdown(self) -> None:
        pass


class _ExecutorRunner:
    """Any ``concurrent.futures.Executor`` (threads, processes, loky...)."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        # threads share the kernel's memory: handles work live; processes get copies
        self.live_handle = "Process" not in type(executor).__name__

    def submit_trial(self, objective: Any, params: dict[str, Any], handle: TrialHandle,
                     pass_trial: bool, key: str = "") -> Any:
        return self.executor.submit(run_trial, objective, params, handle, pass_trial)

    def abandon(self, fut: Any) -> None:
        fut.cancel()

    def shutdown(self) -> None:
        pass  # the user's executor: theirs to shut down


class _DaskRunner:
    """A ``dask.distributed.Client``: trials run on the cluster, the driver stays here.

    Reports travel live: a trial's ``trial.report`` logs a structured event on its Dask
    worker (``Worker.log_event``), the scheduler forwards it to this client
    (``subscribe_topic``), and a thread here feeds it to the scan (curves, the pruner).
    The pruner's verdicts go back through a ``distributed.Variable`` holding the ids of
    running trials to stop, which ``trial.should_prune()`` reads on the worker: a trial
    learns of its pruning at its first check after the report that decided it.
    """

    live_handle = True

    def __init__(self, client: Any) -> None:
        from distributed import Variable

        self.client = client
        uid = uuid.uuid4().hex[:12]
        self.topic, self.var_name = f"hpo-reports-{uid}", f"hpo-pruned-{uid}"
        self._handles: dict[int, TrialHandle] = {}
        self._pruned: set[int] = set()
        self._lock = threading.Lock()
        self._events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._var = Variable(self.var_name, client=client)
        self._var.set([])
        client.subscribe_topic(self.topic, self._events.put)   # called on the client's loop
        self._thread = threading.Thread(target=self._feed, daemon=True,
                                        name="hpo-dask-reports")
        self._thread.start()

    def submit_trial(self, objective: Any, params: dict[str, Any], handle: TrialHandle,
                     pass_trial: bool, key: str = "") -> Any:
        with self._lock:
            self._handles[handle.id] = handle
        fut = self.client.submit(_dask_trial, objective, params, handle, pass_trial,
                                 self.topic, self.var_name, pure=False, key=key)
        # before the scan's own callback: once the driver hears "done", no late report
        # of this trial reaches listeners (its whole curve comes with the result)
        fut.add_done_callback(lambda f, tid=handle.id: self._forget(tid))
        return fut

    def _forget(self, tid: int) -> None:
        with self._lock:
            self._handles.pop(tid, None)
            self._pruned.discard(tid)

    def _feed(self) -> None:
        while True:
            event = self._events.get()
            if event is None:
                return
            try:
                tid, step, value = event[1]
                with self._lock:
                    handle = self._handles.get(int(tid))
                    if handle is None:
                        continue
                    handle.report(step, value)     # listeners and the pruner hear it now
                    newly = handle.should_prune() and int(tid) not in self._pruned
                    if newly:
                        self._pruned.add(int(tid))
                    pruned = sorted(self._pruned)
                if newly:
                    self._var.set(pruned)
            except Exception:   # a bad event must not stop the feed
                log.exception("dask report feed")

    def abandon(self, fut: Any) -> None:
        fut.cancel()

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            self.client.unsubscribe_topic(self.topic)
        self._events.put(None)
        with contextlib.suppress(Exception):
            self._var.delete()


def _dask_trial(objective: Any, params: dict[str, Any], handle: TrialHandle,
                pass_trial: bool, topic: str, var_name: str) -> dict[str, Any]:
    """Runs on a Dask worker: ``run_trial`` with a handle wired back to the scan."""
    from distributed import Variable, get_worker

    worker = get_worker()

    def send(h: TrialHandle, step: float, value: float) -> None:
        worker.log_event(topic, [h.id, step, value])

    def ask(h: TrialHandle) -> bool:
        try:
            return h.id in (Variable(var_name).get(timeout=5) or [])
        except Exception:  # noqa: BLE001 - no answer: keep training
            return False

    # a new handle, not the one given: on an in-process cluster that may be the
    # scan's own object, whose callbacks must stay the scan's
    return run_trial(objective, params, TrialHandle(handle.id, params, sink=send, pruner=ask),
                     pass_trial)


def _in_kernel() -> bool:
    """Whether we run in a Jupyter kernel (where widgets have a front end)."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    return getattr(shell, "kernel", None) is not None


class _TrialRunner:
    """An executor that runs trials itself (``submit_trial``), e.g. ProcessWorkers."""

    live_handle = True

    def __init__(self, executor: Any, owned: bool) -> None:
        self.executor, self.owned = executor, owned

    def submit_trial(self, *args: Any, **kwargs: Any) -> Any:
        return self.executor.submit_trial(*args, **kwargs)

    def abandon(self, fut: Any) -> None:
        self.executor.abandon(fut)

    def shutdown(self) -> None:
        if self.owned:
            self.executor.shutdown()


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__module__.startswith("distributed") and hasattr(obj, "submit") \
        and hasattr(obj, "scheduler_info")


def _executor_slots(executor: Any) -> int:
    if _is_dask_client(executor):
        with contextlib.suppress(Exception):
            return max(1, sum(executor.nthreads().values()))
        return 1
    return int(getattr(executor, "_max_workers", 1) or 1)


def _takes_trial(objective: Callable[..., Any]) -> bool:
    try:
        sig = inspect.signature(objective)
    except (TypeError, ValueError):
        return False
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
        return True
    required = [p for p in positional if p.default is p.empty]
    if not positional:
        raise TypeError("objective must take the params dict as its first argument: "
                        "def objective(params) or def objective(params, trial)")
    if len(required) > 2:
        raise TypeError(f"objective takes {len(required)} required arguments; it should take "
                        "(params) or (params, trial)")
    return len(positional) >= 2


def _as_number(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, numbers.Real):
        return float(x)
    item = getattr(x, "item", None)  # numpy scalars and 0-d arrays, torch/tf scalars
    if callable(item) and getattr(x, "ndim", getattr(x, "shape", None)) in (0, ()):
        with contextlib.suppress(Exception):
            v = item()
            if isinstance(v, numbers.Real) and not isinstance(v, bool):
                return float(v)
    return None


def _plain_metric(x: Any) -> Any:
    n = _as_number(x)
    if n is not None:
        return n
    if isinstance(x, bool | str) or x is None:
        return x
    return repr(x)


_OPTIONS = ("metric", "mode", "strategy", "max_trials", "time_limit", "n_jobs", "seed",
            "pruner", "executor", "name", "store", "max_consecutive_failures",
            "trial_timeout")

_live: weakref.WeakValueDictionary[str, Scan] = weakref.WeakValueDictionary()
_running: set[Scan] = set()  # strong refs: a running scan lives while its thread does


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
    constructing a Scan with the same ``name`` and ``store`` continues that scan.
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
        if unknown:
            bad = next(iter(unknown))
            close = difflib.get_close_matches(bad, _OPTIONS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the options are {list(_OPTIONS)}"
            raise TypeError(f"Scan() got an unknown option {bad!r}; {hint}")
        if objective is not None and not callable(objective):
            raise TypeError(f"objective must be a function, got {type(objective).__name__}")
        self.objective = objective
        self._pass_trial = _takes_trial(objective) if objective is not None else False
        self._space = Space.coerce(space)

        if not isinstance(metric, str) or not metric:
            raise TypeError(f"metric must be the name of a metric (a string), got {metric!r}")
        self.metric = metric
        if mode is None:
            mode = infer_mode(metric)
            if mode is None:
                raise ValueError(f"mode: cannot tell whether {metric!r} should be minimised or "
                                 "maximised; pass mode='min' or mode='max'")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.mode = mode
        self._strategy = make_strategy(strategy)
        self._strategy.validate(self._space)
        self.pruner = make_pruner(pruner)
        self._max_trials = self._check_max_trials(max_trials)
        self.time_limit = self._check_time_limit(time_limit)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"seed must be an integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        if executor is not None and not (_is_dask_client(executor) or hasattr(executor, "submit")):
            raise TypeError("executor must be None, a concurrent.futures.Executor or a "
                            f"dask.distributed.Client, got {type(executor).__name__}")
        self.executor = executor
        self._owns_executor = False   # subclasses that make their executor shut it down
        if n_jobs is None:
            n_jobs = 1 if executor is None else _executor_slots(executor)
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs < 1:
            raise ValueError(f"n_jobs must be a whole number >= 1, got {n_jobs!r}")
        self.n_jobs = int(n_jobs)
        if (isinstance(max_consecutive_failures, bool)
                or not isinstance(max_consecutive_failures, numbers.Integral)
                or max_consecutive_failures < 1):
            raise ValueError("max_consecutive_failures must be a whole number >= 1, got "
                             f"{max_consecutive_failures!r}")
        self.max_consecutive_failures = int(max_consecutive_failures)
        if trial_timeout is not None:
            trial_timeout = float(trial_timeout)
            if not trial_timeout > 0:
                raise ValueError(f"trial_timeout must be > 0 seconds, got {trial_timeout!r}")
        self.trial_timeout = trial_timeout

        if name is None:
            name = getattr(objective, "__name__", None) or "scan"
            if not name.isidentifier() or name == "<lambda>":
                name = "scan"
        self.name = name
        self.path = scan_dir(store, name)

        self._lock = threading.RLock()
        self._listeners: list[Callable[[ScanEvent], Any]] = []
        self._emit_lock = threading.RLock()
        self._trials: dict[int, Trial] = {}
        self._history: list[Trial] = []  # ended trials in the order they ended
        self._counts: dict[str, int] = dict.fromkeys(
            ("finished", "failed", "pruned", "running", "interrupted"), 0)
        self._best: Trial | None = None
        self._status = "idle"
        self.message = ""
        self._thread: threading.Thread | None = None
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._paused = False
        self._stop_requested = False
        self._done = threading.Event()
        self._done.set()
        self._started_at: float | None = None
        self._elapsed_before = 0.0
        self.exception: BaseException | None = None

        self._store = Store(self.path)
        self._load_stored()
        self._next_id = max(self._trials, default=-1) + 1
        if not self._store.is_locked():
            # a scan running on these rows (here or elsewhere) owns its stored settings
            self._store.update_meta(self._meta())
        self.strategy.bind(seed=self.seed, minimize=self.minimize)
        if self.pruner is not None:
            self.pruner.bind(minimize=self.minimize)
            for t in self._history:
                self.pruner.complete(t)
        other = _live.get(str(self.path))
        if other is None or other.status not in ("running", "paused", "stopping"):
            _live[str(self.path)] = self

    # -- options -------------------------------------------------------------------------
    @staticmethod
    def _check_max_trials(v: Any) -> int | None:
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"max_trials must be a whole number >= 1 or None, got {v!r}")
        return int(v)

    @staticmethod
    def _check_time_limit(v: Any) -> float | None:
        if v is None:
            return None
        if isinstance(v, _dt.timedelta):
            v = v.total_seconds()
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0 \
                or not math.isfinite(v):
            raise ValueError(f"time_limit must be a number of seconds > 0 (or a timedelta), "
                             f"got {v!r}")
        return float(v)

    @property
    def minimize(self) -> bool:
        return self.mode == "min"

    @property
    def strategy(self) -> Strategy:
        """The strategy proposing new points; may be swapped while the scan runs."""
        return self._strategy

    @strategy.setter
    def strategy(self, value: str | Strategy) -> None:
        new = make_strategy(value)
        new.validate(self._space)
        new.bind(seed=self.seed, minimize=self.minimize)
        self._strategy = new
        with contextlib.suppress(Exception):
            self._store.set_meta("strategy", new.to_dict())
        self._emit(ScanEvent("status", self))
        self._wake()

    @property
    def max_trials(self) -> int | None:
        """How many trials (finished, failed, pruned) end the scan; may be changed live."""
        return self._max_trials

    @max_trials.setter
    def max_trials(self, value: int | None) -> None:
        self._max_trials = self._check_max_trials(value)
        with contextlib.suppress(Exception):
            self._store.set_meta("max_trials", self._max_trials)
        self._emit(ScanEvent("status", self))
        self._wake()

    @property
    def eta(self) -> float | None:
        """Seconds until ``max_trials`` at the recent pace (``None`` when unknown)."""
        if self._max_trials is None or self._status not in ("running", "stopping"):
            return None
        left = self._max_trials - self.n_done
        if left <= 0:
            return 0.0
        recent = [t for t in self._history[-50:] if t.finished is not None]
        if len(recent) < 2 or self._started_at is None:
            return None
        span = recent[-1].finished - max(recent[0].finished, self._started_at)  # type: ignore[operator]
        if span <= 0:
            return None
        rate = (len(recent) - 1) / span
        return left / rate

    def _meta(self) -> dict[str, Any]:
        return {"name": self.name, "metric": self.metric, "mode": self.mode,
                "space": self._space.to_dict(), "strategy": self.strategy.to_dict(),
                "pruner": None if self.pruner is None else self.pruner.to_dict(),
                "max_trials": self.max_trials, "time_limit": self.time_limit,
                "n_jobs": self.n_jobs, "seed": self.seed,
                "max_consecutive_failures": self.max_consecutive_failures,
                "trial_timeout": self.trial_timeout,
                "objective": getattr(self.objective, "__qualname__", None),
                "status": self._status, "message": self.message,
                "elapsed": self._elapsed_before}

    def _load_stored(self) -> None:
        stored = self._store.trials()
        if not stored:
            return
        # Rows left 'running' by a process that died are interrupted: only if nobody
        # holds the run lock now (a running scan elsewhere owns its rows).
        if not self._store.is_locked():
            try:
                self._store.acquire()
            except ScanLocked:
                pass
            else:
                if self._store.mark_interrupted():
                    stored = self._store.trials()
                self._store.release()
        self._elapsed_before = float(self._store.get_meta("elapsed", 0.0) or 0.0)
        for t in stored:
            t = self._rescore(t)
            self._put(t)
        done = sum(1 for t in stored if t.done)
        self.message = f"continued from {self.path} ({done} trials stored)"
        log.info("scan %r: %s", self.name, self.message)

    def _rescore(self, t: Trial) -> Trial:
        """The stored trial's value under this scan's metric (it may have changed)."""
        if t.status == "finished":
            v = _as_number(t.metrics.get(self.metric))
            if v is None or not math.isfinite(v):
                return t.replace(status="failed", value=None, error=(
                    f"stored trial has no metric {self.metric!r} (it has "
                    f"{sorted(t.metrics)})"))
            return t.replace(value=v)
        return t

    # -- public state --------------------------------------------------------------------
    @property
    def status(self) -> str:
        """``"idle" | "running" | "paused" | "stopping" | "finished" | "failed"``."""
        return self._status

    @property
    def space(self) -> Space:
        """The space new trials are drawn from; assign a narrowed one while running."""
        return self._space

    @space.setter
    def space(self, new: Space | Mapping[str, Any]) -> None:
        new = Space.coerce(new)
        old = set(self._space)
        if set(new) != old:
            missing, extra = sorted(old - set(new)), sorted(set(new) - old)
            raise ValueError(
                "the new space must have the same parameters as the scan "
                f"(missing: {missing}, extra: {extra}); narrow ranges with "
                "scan.space.narrow(...), or start a new scan for a different model")
        self._strategy.validate(new)
        self._space = new
        with contextlib.suppress(Exception):
            self._store.set_meta("space", new.to_dict())
        self._emit(ScanEvent("space", self))
        self._wake()

    def narrow(self, **ranges: Any) -> Space:
        """Narrow the space for trials not yet started: ``scan.narrow(lr=(1e-3, 1e-2))``.

        A tuple narrows a range, a list restricts a choice, a scalar fixes a value.
        """
        self.space = self._space.narrow(**ranges)
        return self._space

    @property
    def trials(self) -> list[Trial]:
        """Every trial of this scan (stored and new), by id."""
        with self._lock:
            return list(self._trials.values())

    def trial(self, trial_id: int) -> Trial | None:
        """The latest record of one trial (``None`` if this scan has no such id)."""
        with self._lock:
            return self._trials.get(int(trial_id))

    @property
    def n_done(self) -> int:
        """Trials that count toward ``max_trials`` (finished, failed, pruned)."""
        return len(self._history)

    @property
    def counts(self) -> dict[str, int]:
        """Number of trials per status."""
        return dict(self._counts)

    def _put(self, t: Trial) -> None:
        """Record a new or changed trial; counts and best follow in O(1)."""
        with self._lock:
            old = self._trials.get(t.id)
            if old is not None:
                self._counts[old.status] -= 1
            self._counts[t.status] = self._counts.get(t.status, 0) + 1
            self._trials[t.id] = t
            if t.done and (old is None or not old.done):
                self._history.append(t)
            if t.status == "finished" and t.value is not None and (
                    self._best is None or (t.value < self._best.value  # type: ignore[operator]
                                           if self.minimize else t.value > self._best.value)):
                self._best = t

    @property
    def elapsed(self) -> float:
        """Seconds this scan has been running, over all its sessions."""
        if self._started_at is None:
            return self._elapsed_before
        return self._elapsed_before + time.time() - self._started_at

    @property
    def best(self) -> Trial | None:
        """The best finished trial (``None`` before the first)."""
        return self._best

    @property
    def results(self) -> Any:
        """A pandas DataFrame, one row per trial (index ``trial``): a column per parameter
        and per metric, then ``status``, ``started``, ``duration`` and ``error``."""
        import pandas as pd

        trials = self.trials
        param_names = list(self._space)
        metric_names: list[str] = [self.metric]
        seen = set(metric_names) | set(param_names)
        for t in trials:
            for k in t.metrics:
                if k not in seen:
                    seen.add(k)
                    metric_names.append(k)
        rows = []
        for t in trials:
            row: dict[str, Any] = {"trial": t.id}
            for p in param_names:
                row[p] = t.params.get(p)
            for m in metric_names:
                row[m] = t.metrics.get(m)
            if t.status == "pruned" and row[self.metric] is None:
                row[self.metric] = t.value
            row["status"] = t.status
            row["started"] = t.started
            row["duration"] = t.duration
            row["error"] = t.error
            rows.append(row)
        cols = ["trial", *param_names, *metric_names, "status", "started", "duration", "error"]
        df = pd.DataFrame(rows, columns=cols).set_index("trial")
        df["started"] = pd.to_datetime(df["started"], unit="s")
        df[self.metric] = pd.to_numeric(df[self.metric], errors="coerce")
        df["duration"] = pd.to_numeric(df["duration"], errors="coerce")
        return df

    # -- listeners -----------------------------------------------------------------------
    def subscribe(self, listener: Callable[[ScanEvent], Any]) -> Callable[[ScanEvent], Any]:
        """Call ``listener(event)`` on every :class:`ScanEvent`.

        Listeners run on the scan's threads: keep them quick. One that raises is logged
        and detached; it never stops the scan.
        """
        with self._emit_lock:
            self._listeners.append(listener)
        return listener

    def unsubscribe(self, listener: Callable[[ScanEvent], Any]) -> None:
        with self._emit_lock, contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _emit(self, event: ScanEvent) -> None:
        with self._emit_lock:
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn(event)
            except Exception:
                log.exception("scan %r: listener %r raised on %s; detached", self.name, fn,
                              event.kind)
                self.unsubscribe(fn)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Scan:
        """Start (or continue) the scan in the background; returns at once."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                if self._paused:
                    self.resume()
                return self
            if self.objective is None:
                if self._store.get_meta("kind") == "keras":
                    raise ValueError(
                        f"scan {self.name!r} is a KerasScan loaded for its results; resume "
                        f"it by re-running hw.KerasScan(build, space, x, y, "
                        f"name={self.name!r}, store={str(self.path.parent)!r}, ...)")
                raise ValueError(
                    f"scan {self.name!r} was loaded without an objective; reopen it with "
                    f"hw.load({str(self.path)!r}, objective=your_function) to resume it")
            try:
                self._store.acquire()
            except ScanLocked as e:
                if any(o.path == self.path for o in list(_running) if o is not self):
                    raise ScanLocked(
                        f"scan {self.name!r} is already running in this kernel; stop it "
                        f"first (hw.scans() lists it; %hpo stop {self.name}) or give this "
                        "scan another name=") from None
                raise e
            if self._trials and any(t.status == "running" for t in self._trials.values()):
                # we now hold the lock, so nobody else is running these rows
                self._store.mark_interrupted()
                for t in list(self._trials.values()):
                    if t.status == "running":
                        self._put(t.replace(status="interrupted"))
            self._paused = False
            self._stop_requested = False
            self.exception = None
            self._done.clear()
            self._started_at = time.time()
            self._thread = threading.Thread(target=self._drive, name=f"hpo-driver-{self.name}",
                                            daemon=True)
            _running.add(self)
            _live[str(self.path)] = self
            self._set_status("running", "")
            self._thread.start()
        return self

    def pause(self) -> None:
        """Start no new trials; running ones finish and are recorded."""
        if self._status in ("running",):
            self._paused = True
            self._set_status("paused")
            self._wake()

    def resume(self) -> None:
        """Undo :meth:`pause` (or :meth:`start` a scan that is not running)."""
        if self._status == "paused":
            self._paused = False
            self._set_status("running")
            self._wake()
        elif self._status in ("idle", "finished", "failed"):
            self.start()

    def stop(self, wait: bool = False) -> None:
        """Start no new trials; let running ones finish and be recorded, then end.

        Returns at once unless ``wait=True``.
        """
        if self._status in ("running", "paused"):
            self._stop_requested = True
            self._set_status("stopping")
            self._wake()
        if wait:
            self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the scan ends (or ``timeout`` seconds pass); ``True`` if it ended."""
        return self._done.wait(timeout)

    def _wake(self) -> None:
        self._inbox.put(("wake",))

    def _set_status(self, status: str, message: str | None = None) -> None:
        changed = status != self._status or (message is not None and message != self.message)
        self._status = status
        if message is not None:
            self.message = message
        if changed:
            with contextlib.suppress(Exception):
                self._store.update_meta({"status": status, "message": self.message,
                                         "elapsed": self.elapsed})
            self._emit(ScanEvent("status", self))

    # -- the driver ----------------------------------------------------------------------
    def _make_runner(self) -> Any:
        if self.executor is None:
            if self.n_jobs == 1 and self.trial_timeout is None:
                return _InlineRunner()
            return _ThreadRunner(self.n_jobs, self.name)
        if _is_dask_client(self.executor):
            return _DaskRunner(self.executor)
        if hasattr(self.executor, "submit_trial"):
            return _TrialRunner(self.executor, owned=self._owns_executor)
        return _ExecutorRunner(self.executor)

    def _drive(self) -> None:
        runner = None
        running: dict[int, tuple[Trial, TrialHandle, Any, float]] = {}
        final_status, final_message = "finished", ""
        exhausted = False
        failures_in_row = 0
        session_start = time.time()
        try:
            runner = self._make_runner()
            while True:
                now = time.time()
                out_of_time = (self.time_limit is not None
                               and now - session_start >= self.time_limit)
                full = self.max_trials is not None and self.n_done >= self.max_trials
                launching = not (self._stop_requested or self._paused or exhausted
                                 or out_of_time or failures_in_row
                                 >= self.max_consecutive_failures)
                while launching and len(running) < self.n_jobs and (
                        self.max_trials is None
                        or self.n_done + len(running) < self.max_trials):
                    params = self._ask([r[0].params for r in running.values()])
                    if params is None:
                        exhausted = True
                        break
                    trial, handle, fut = self._launch(runner, params)
                    running[trial.id] = (trial, handle, fut, time.time())
                if not running:
                    if self._stop_requested:
                        final_message = "stopped"
                        break
                    if failures_in_row >= self.max_consecutive_failures:
                        last = self._history[-1].error if self._history else ""
                        final_status = "failed"
                        final_message = (f"stopped after {failures_in_row} failed trials in a "
                                         f"row; last error: {last}")
                        break
                    if full:
                        final_message = f"max_trials reached ({self.max_trials})"
                        break
                    if exhausted:
                        final_message = "the strategy has no points left (grid exhausted)"
                        break
                    if out_of_time:
                        final_message = f"time_limit reached ({self.time_limit:g} s)"
                        break
                # Sleep until something happens: a trial ends, a control call, a deadline.
                timeout = None
                if self.time_limit is not None and launching:
                    timeout = max(0.0, session_start + self.time_limit - time.time())
                if self.trial_timeout is not None and running:
                    first = min(r[3] for r in running.values())
                    t_left = max(0.0, first + self.trial_timeout - time.time())
                    timeout = t_left if timeout is None else min(timeout, t_left)
                if self._paused and not running and not self._stop_requested:
                    timeout = None  # wait for resume/stop
                try:
                    msg = self._inbox.get(timeout=timeout)
                except queue.Empty:
                    msg = None
                while msg is not None:
                    if msg[0] == "done" and msg[1] in running:
                        trial, handle, fut, _ = running.pop(msg[1])
                        ended = self._finish(trial, handle, self._outcome(fut))
                        failures_in_row = failures_in_row + 1 if ended.status == "failed" else 0
                    try:
                        msg = self._inbox.get_nowait()
                    except queue.Empty:
                        msg = None
                if self.trial_timeout is not None:
                    now = time.time()
                    for tid, (trial, handle, fut, t0) in list(running.items()):
                        if now - t0 >= self.trial_timeout:
                            running.pop(tid)
                            runner.abandon(fut)
                            ended = self._finish(trial, handle, {
                                "error": f"TimeoutError: trial ran longer than trial_timeout="
                                         f"{self.trial_timeout:g} s and was abandoned",
                                "curve": list(handle.curve), "started": t0,
                                "finished": now})
                            failures_in_row += 1
        except BaseException as e:
            self.exception = e
            final_status = "failed"
            final_message = f"the scan's driver failed: {type(e).__name__}: {e}"
            log.exception("scan %r failed", self.name)
            # record what is known of trials still running as interrupted
            for trial, _h, fut, _t in running.values():
                with contextlib.suppress(Exception):
                    fut.cancel()
                t = trial.replace(status="interrupted", error="the scan's driver failed")
                with contextlib.suppress(Exception):
                    self._store.add(t)
                self._put(t)
        finally:
            if runner is not None:
                runner.shutdown()
            self._elapsed_before = self.elapsed
            self._started_at = None
            self._set_status(final_status, final_message)
            self._store.release()
            _running.discard(self)
            self._done.set()

    def _ask(self, pending: list[dict[str, Any]]) -> dict[str, Any] | None:
        space = self._space
        params = self.strategy.ask(space, self._history, pending)
        if params is None:
            return None
        if not isinstance(params, dict):
            raise TypeError(f"strategy {self.strategy!r} proposed {params!r}, not a dict")
        missing = [n for n in space if n not in params]
        if missing:
            raise ValueError(f"strategy {self.strategy!r} proposed a point without {missing}")
        return params

    def _launch(self, runner: Any, params: dict[str, Any]) -> tuple[Trial, TrialHandle, Any]:
        tid = self._next_id
        self._next_id += 1
        trial = Trial(id=tid, params=params, status="running", started=time.time())
        self._store.add(trial)
        self._put(trial)
        live = runner.live_handle
        handle = TrialHandle(tid, params, sink=self._on_report if live else None,
                             pruner=self._should_prune if (live and self.pruner) else None)
        self._emit(ScanEvent("trial_started", self, trial=trial))
        fut = runner.submit_trial(self.objective, params, handle, self._pass_trial,
                                  key=f"hpo-{self.name}-{tid}-{uuid.uuid4().hex[:8]}")
        fut.add_done_callback(lambda f, tid=tid: self._inbox.put(("done", tid, f)))
        return trial, handle, fut

    def _on_report(self, handle: TrialHandle, step: float, value: float) -> None:
        if self.pruner is not None:
            self.pruner.report(handle.id, step, value)
        trial = self._trials.get(handle.id)
        self._emit(ScanEvent("trial_reported", self, trial=trial, step=step, value=value))

    def _should_prune(self, handle: TrialHandle) -> bool:
        return bool(self.pruner is not None and self.pruner.should_prune(handle.id))

    @staticmethod
    def _outcome(fut: Any) -> dict[str, Any]:
        try:
            return fut.result()
        except BaseException as e:  # noqa: BLE001 - lost worker, cancelled, unpicklable...
            return {"error": f"{type(e).__name__}: {e}", "traceback": _tb.format_exc()}

    def _interpret(self, outcome: dict[str, Any]) -> tuple[str, dict[str, Any], float | None,
                                                            str | None]:
        """(status, metrics, value, error) from what ``run_trial`` returned."""
        curve = outcome.get("curve") or []
        last = curve[-1][1] if curve else None
        if outcome.get("pruned"):
            res = outcome.get("result")
            metrics = {}
            if isinstance(res, Mapping):
                metrics = {str(k): _plain_metric(v) for k, v in res.items()}
            return "pruned", metrics, last, None
        if outcome.get("error"):
            return "failed", {}, None, outcome["error"]
        res = outcome.get("result")
        fix = f"return a number, or a dict of metrics such as {{{self.metric!r}: 0.25}}"
        if res is None:
            return "failed", {}, None, f"objective returned None; {fix}"
        if isinstance(res, Mapping):
            metrics = {str(k): _plain_metric(v) for k, v in res.items()}
            if self.metric not in metrics:
                return "failed", metrics, None, (
                    f"objective returned metrics {sorted(metrics)} but not {self.metric!r}, the "
                    f"scan's metric; return it, or pass metric= one of {sorted(metrics)}")
            v = _as_number(res[self.metric])
            if v is None:
                return "failed", metrics, None, (
                    f"metric {self.metric!r} is {res[self.metric]!r}, not a number")
        else:
            v = _as_number(res)
            if v is None:
                return "failed", {}, None, (
                    f"objective returned a {type(res).__name__} ({res!r:.80}); {fix}")
            metrics = {self.metric: v}
        if not math.isfinite(v):
            return "failed", metrics, None, f"metric {self.metric!r} is {v} (not finite)"
        return "finished", metrics, v, None

    def _finish(self, trial: Trial, handle: TrialHandle, outcome: dict[str, Any]) -> Trial:
        status, metrics, value, error = self._interpret(outcome)
        curve = outcome.get("curve") or handle.curve
        ended = trial.replace(
            status=status, metrics=metrics, value=value, error=error,
            traceback=outcome.get("traceback") if status == "failed" else None,
            started=outcome.get("started", trial.started),
            finished=outcome.get("finished", time.time()),
            curve=tuple((float(s), float(v)) for s, v in curve),
            worker=outcome.get("worker"))
        self._store.add(ended)  # committed before anyone hears of it
        self._put(ended)
        try:
            self.strategy.tell(ended)
        except Exception:
            log.exception("scan %r: strategy.tell raised", self.name)
        if self.pruner is not None:
            try:
                self.pruner.complete(ended)
            except Exception:
                log.exception("scan %r: pruner.complete raised", self.name)
        self._emit(ScanEvent("trial_finished", self, trial=ended))
        return ended

    # -- display -------------------------------------------------------------------------
    def dashboard(self) -> Any:
        """The live dashboard widget of this scan (one per scan; each display is a view)."""
        from .widgets import Dashboard

        dash = getattr(self, "_dashboard", None)
        if dash is None or getattr(dash, "comm", None) is None:
            dash = self._dashboard = Dashboard(self)
        return dash

    def dock(self, *, title: str | None = None) -> Any:
        """Show the dashboard in JupyterLab's right side panel (inline elsewhere)."""
        from .lab import dock

        return dock(self, title=title)

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
        return (f"<Scan {self.name!r} {self._status}: {self.n_done}"
                f"{'' if self.max_trials is None else '/' + str(self.max_trials)} trials "
                f"({c['failed']} failed, {c['running']} running){b}>")

    def close(self) -> None:
        """Stop the scan and close its database."""
        self.stop(wait=True)
        self._store.close()


def load(path: str | os.PathLike[str], objective: Callable[..., Any] | None = None,
         **options: Any) -> Scan:
    """Reopen a stored scan: ``hw.load("hpo_scans/mlp")``.

    Its results and settings come back; pass ``objective=`` to resume it with
    ``.start()``. Other keyword arguments override stored settings
    (e.g. ``max_trials=300`` to extend it).
    """
    p = Path(path).expanduser()
    s = Store(p, create=False)
    try:
        meta = s.meta()
    finally:
        s.close()
    if "space" not in meta:
        raise ValueError(f"{str(p)!r} holds no scan settings (was it written by hpo_widgets?)")
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
    settings: dict[str, Any] = {
        "metric": meta.get("metric", "value"), "mode": meta.get("mode"),
        "max_trials": meta.get("max_trials"), "time_limit": meta.get("time_limit"),
        "seed": meta.get("seed"), "max_consecutive_failures": meta.get(
            "max_consecutive_failures", 10), "trial_timeout": meta.get("trial_timeout"),
    }
    if options.get("executor") is None:
        settings["n_jobs"] = meta.get("n_jobs", 1)
    settings.update(options)
    return Scan(objective, space, strategy=strategy, pruner=pruner,
                name=p.name, store=p.parent, **settings)


def _param(d: dict[str, Any]) -> Any:
    from .space import _param_from_dict

    return _param_from_dict(d)


def scans(store: str | os.PathLike[str] = "hpo_scans") -> Any:
    """A DataFrame of the scans in this kernel and in ``store``, with their status."""
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
                      "updated": None, "where": "kernel"}
    cols = ["name", "status", "trials", "failed", "best", "metric", "mode", "where", "path"]
    return pd.DataFrame(list(rows.values()), columns=cols)
