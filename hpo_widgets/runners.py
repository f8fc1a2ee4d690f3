"""Where trials run, and what each place can do.

Every runner declares its capabilities (:class:`Capabilities`) so the scan never guesses:

==========================  ============  ===========  ===============================
runner                      live reports  abandon a    slots
                            & prune       running
                            answers       trial
==========================  ============  ===========  ===============================
inline (n_jobs=1)           yes           no (no       1
                                          timeout)
kernel threads (n_jobs=N)   yes           yes (thread  N
                                          left behind)
ThreadPoolExecutor          yes           no           learnt (see below)
other concurrent.futures    no            no           learnt
Executor (processes, loky)
ProcessWorkers              yes           yes (killed) its size
dask.distributed Client     yes           no           its threads
==========================  ============  ===========  ===============================

*Slots learnt*: a plain ``Executor`` does not say how many tasks it runs at once, so the
driver keeps at most one trial waiting in its queue and submits the next when that one
starts (``n_jobs`` caps it). A trial's timeout clock starts when it really starts
(``future.running()``), never while it waits in a queue.

An executor that runs trials itself (``submit_trial``, like ``ProcessWorkers``) declares
``reports_live``, ``can_abandon`` and ``slots`` as attributes, and may offer ``note()``:
a short line for the dashboard (e.g. "worker starting: importing keras").

This module knows nothing of ``Scan``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .outcome import run_trial
from .trial import TrialHandle

__all__ = ["Capabilities", "capabilities", "is_dask_client", "make_runner", "refuse_pruner"]

log = logging.getLogger("hpo_widgets")

#: Where to send a user whose executor cannot carry reports.
REPORTING_EXECUTORS = ("executor=None (kernel threads, n_jobs=N)",
                       "hpo_widgets.workers.ProcessWorkers(n) (processes)",
                       "a dask.distributed Client (a cluster)",
                       "a concurrent.futures.ThreadPoolExecutor")


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a runner can do. ``slots=None``: unknown, learnt from when trials start."""

    label: str
    reports_live: bool
    can_abandon: bool
    slots: int | None


def is_dask_client(obj: Any) -> bool:
    return type(obj).__module__.startswith("distributed") and hasattr(obj, "submit") \
        and hasattr(obj, "scheduler_info")


def capabilities(executor: Any, n_jobs: int | None = None,
                 trial_timeout: float | None = None) -> Capabilities:
    """What the runner for ``executor`` will be able to do (nothing is started)."""
    if executor is None:
        n = n_jobs or 1
        if n == 1 and trial_timeout is None:
            return Capabilities("inline", True, False, 1)
        return Capabilities("kernel threads", True, True, n)
    if is_dask_client(executor):
        slots = None
        with contextlib.suppress(Exception):
            slots = max(1, sum(executor.nthreads().values()))
        return Capabilities("dask", True, False, slots)
    if hasattr(executor, "submit_trial"):
        slots = getattr(executor, "slots", None)
        return Capabilities(type(executor).__name__,
                            bool(getattr(executor, "reports_live", False)),
                            bool(getattr(executor, "can_abandon", False)),
                            int(slots) if isinstance(slots, int) else None)
    # A thread pool runs trials in this process: handles report live. Anything else
    # (process pools, loky, remote executors) gets a copy of the handle.
    return Capabilities(type(executor).__name__, isinstance(executor, ThreadPoolExecutor),
                        False, None)


def refuse_pruner(caps: Capabilities, what: str) -> None:
    """A named error when ``what`` (a pruner) needs reports the runner cannot carry."""
    if caps.reports_live:
        return
    raise ValueError(
        f"{what} needs each trial's reports while it runs, but {caps.label} runs trials "
        "where trial.report() cannot reach the scan (each worker gets a copy of the handle), "
        f"so no trial would ever be pruned. Use an executor that carries reports: "
        f"{'; '.join(REPORTING_EXECUTORS)}; or drop pruner=")


_Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class ThreadRunner:
    """A small pool of daemon threads in this process.

    Not ``ThreadPoolExecutor``: a hung trial must be abandonable (its thread is left
    behind and replaced), and daemon threads never block the interpreter's exit.
    """

    def __init__(self, n: int, name: str) -> None:
        self.caps = Capabilities("kernel threads", True, True, n)
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._name = name
        self._threads: list[threading.Thread] = []
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

    def submit_trial(self, objective: Any, params: dict[str, Any], handle: TrialHandle,
                     pass_trial: bool, key: str = "") -> Future[Any]:
        fut: Future[Any] = Future()
        self._tasks.put((fut, run_trial, (objective, params, handle, pass_trial)))
        return fut

    def abandon(self, fut: Any) -> None:
        """A trial hangs: leave its thread behind and start a replacement."""
        self._spawn()

    def shutdown(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)


class InlineRunner:
    """One trial at a time, run by the driver thread itself.

    With ``n_jobs=1`` and no ``trial_timeout`` a worker thread buys nothing but two
    thread hand-offs per trial (a good part of the engine's cost on fast objectives).
    """

    caps = Capabilities("inline", True, False, 1)

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


class ExecutorRunner:
    """Any ``concurrent.futures.Executor`` (threads, processes, loky...)."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.caps = capabilities(executor)

    def submit_trial(self, objective: Any, params: dict[str, Any], handle: TrialHandle,
                     pass_trial: bool, key: str = "") -> Any:
        return self.executor.submit(run_trial, objective, params, handle, pass_trial)

    def abandon(self, fut: Any) -> None:
        fut.cancel()   # stops a queued task only; a running one keeps its slot

    def shutdown(self) -> None:
        pass  # the user's executor: theirs to shut down


class TrialRunner:
    """An executor that runs trials itself (``submit_trial``), e.g. ProcessWorkers."""

    def __init__(self, executor: Any, owned: bool) -> None:
        self.executor, self.owned = executor, owned
        self.caps = capabilities(executor)

    def submit_trial(self, *args: Any, **kwargs: Any) -> Any:
        return self.executor.submit_trial(*args, **kwargs)

    def abandon(self, fut: Any) -> None:
        self.executor.abandon(fut)

    def note(self) -> str | None:
        fn = getattr(self.executor, "note", None)
        if not callable(fn):
            return None
        try:
            return fn()
        except Exception:  # noqa: BLE001 - a note is a courtesy
            return None

    def shutdown(self) -> None:
        if self.owned:
            self.executor.shutdown()


class DaskRunner:
    """A ``dask.distributed.Client``: trials run on the cluster, the driver stays here.

    Reports travel live: a trial's ``trial.report`` logs a structured event on its Dask
    worker (``Worker.log_event``), the scheduler forwards it to this client
    (``subscribe_topic``), and a thread here feeds it to the scan (curves, the pruner).
    The pruner's verdicts go back through a ``distributed.Variable`` holding the ids of
    running trials to stop, which ``trial.should_prune()`` reads on the worker: a trial
    learns of its pruning at its first check after the report that decided it.
    """

    def __init__(self, client: Any) -> None:
        from distributed import Variable

        self.client = client
        self.caps = capabilities(client)
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


def make_runner(executor: Any, *, n_jobs: int, trial_timeout: float | None, name: str,
                owned: bool = False) -> Any:
    """The runner for ``executor`` (``None``: inline or kernel threads)."""
    if executor is None:
        if n_jobs == 1 and trial_timeout is None:
            return InlineRunner()
        return ThreadRunner(n_jobs, name)
    if is_dask_client(executor):
        return DaskRunner(executor)
    if hasattr(executor, "submit_trial"):
        return TrialRunner(executor, owned=owned)
    return ExecutorRunner(executor)


def default_slots_cap() -> int:
    """How many trials at most go to an executor that does not declare its slots."""
    return max(4, 4 * (os.cpu_count() or 1))
