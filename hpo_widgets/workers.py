"""Trials in worker processes that are recycled, so a long scan's memory stays bounded.

Frameworks such as TensorFlow keep memory that ``clear_session()`` does not give back
(graphs, kernels, allocator arenas): a kernel that trains hundreds of models in-process
grows until it dies. :class:`ProcessWorkers` runs each trial in a separate Python
process instead, and replaces a process once it has grown by ``max_rss_growth_mb`` or
run ``max_tasks`` trials. The kernel itself never imports the framework.

How it differs from ``multiprocessing.Pool``/``ProcessPoolExecutor`` (and why):

- Workers talk to the kernel over two pipes of their own, not through ``multiprocessing``:
  its spawn re-imports the parent's ``__main__`` (re-running a script that has no
  ``if __name__ == "__main__"`` guard) and cannot find functions defined in a notebook
  (they live in the kernel's ``__main__``, which a child does not have). A ``Pool`` then
  replaces its crashing workers forever and ``map`` never returns. Here the objective
  travels by value (cloudpickle), once per worker, and a worker that dies fails its trial
  with the exit code instead of hanging the scan.
- On Linux a worker is forked from the kernel while that is safe (see :func:`_can_fork`):
  it then starts with everything the kernel has already imported (NumPy, scikit-learn,
  SciPy, pandas: 1-2 s of a fresh Python's start) and imports only the framework. The
  child lets go of every file and socket the kernel holds, so a kernel restart finds its
  ports free. A kernel that has only imported Keras (to define its model function) hands
  it over imported, and the worker is ready at once. Once the framework has run in the
  kernel (its thread pools do not survive a fork), with PyTorch or JAX imported, or
  elsewhere than Linux, a worker starts as ``python -m hpo_widgets.workers`` (also what
  ``HPO_WIDGETS_WORKER_START=spawn`` asks for).
- A worker imports its framework with the garbage collector off and then freezes what it
  imported (``gc.freeze``): the collector walked TensorFlow's objects again and again
  during the import (about 1 s of a 5 s ``import keras``) and then 0.3 s per full
  collection inside trials.
- Trials run inside a Python frame that reserves room on CPython's frame stack
  (:func:`_roomy_call`): ``model.fit``'s calls then never map and unmap a new chunk of that
  stack at every step, which had made the same ``fit`` cost 3-8% more CPU in a worker than
  in a plain loop (``bench/keras_fit_gap.py``); now it costs ~5% less.
- ``trial.report`` and ``trial.should_prune`` work across the process boundary: reports
  stream back to the kernel as they happen (live curves, pruning), and the pruner's
  answer is sent back to the worker.
- A hung trial can really be stopped: its process is killed and replaced.
- Start-up is paid once, not per scan: a pool that ``preload``s a framework hands its
  healthy workers back as warm spares when it shuts down, and the next pool with the same
  environment takes them (a worker that has imported Keras starts its next trial at
  once, instead of after a 3-5 s import). Spares leave after ``KEEP_WARM_S`` idle seconds
  (env ``HPO_WIDGETS_KEEP_WARM_S``; ``0`` turns this off) or on :func:`release`.
  :func:`warm_up` starts them ahead of time (``KerasScan`` does, when it is built), and a
  worker nearing its memory limit gets its successor started while it still works, so
  recycling does not stall the scan either.

Use it as ``Scan(..., executor=ProcessWorkers(2))``; ``KerasScan`` uses it by default.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import itertools
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import types
from collections import deque
from concurrent.futures import Future
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = ["KEEP_WARM_S", "ProcessWorkers", "release", "warm_up"]

log = logging.getLogger("hpo_widgets")

#: Seconds an idle warm worker (one that preloaded a framework) is kept for the next pool.
KEEP_WARM_S = float(os.environ.get("HPO_WIDGETS_KEEP_WARM_S", "300"))
#: At most this many idle warm workers are kept (each holds a framework's memory).
MAX_SPARES = 4
#: A worker whose memory grew by this share of its limit gets its successor started.
SUCCESSOR_AT = 0.5
#: Characters of a trial's output kept in its metrics as ``"stdout"`` (the last ones, as
#: ``%%hpo`` keeps: the same limit as ``magics.STDOUT_LIMIT``).
OUTPUT_LIMIT = 4000

# objective tokens are unique in this process, so a warm worker that served an earlier
# pool can never mistake a new objective for an old one (ids of dead objects are reused)
_tokens = itertools.count(1)


def _dumps(obj: Any) -> bytes:
    try:
        import cloudpickle

        return cloudpickle.dumps(obj)
    except ImportError:  # pragma: no cover - cloudpickle is a dependency
        return pickle.dumps(obj)


def _rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):  # pragma: no cover - not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Worker:
    def __init__(self, index: int, env: dict[str, str], preload: list[str]) -> None:
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        proc: subprocess.Popen[bytes] | _ForkedProcess | None = None
        if _can_fork():
            # a fork can fail where a fresh process would not (a large kernel under strict
            # memory overcommit): then the worker starts fresh
            with contextlib.suppress(OSError):
                proc = _ForkedProcess(p2c_r, c2p_w, env, preload)
        if proc is None:
            cmd = [sys.executable, "-m", "hpo_widgets.workers", str(p2c_r), str(c2p_w),
                   ",".join(preload)]
            proc = subprocess.Popen(cmd, pass_fds=(p2c_r, c2p_w), env=env,
                                    stdin=subprocess.DEVNULL)
        self.proc = proc
        os.close(p2c_r)
        os.close(c2p_w)
        self.send_conn = Connection(p2c_w, readable=False)
        self.recv_conn = Connection(c2p_r, writable=False)
        self.index = index
        self.ready = False
        self.task: _Task | None = None
        self.tasks_done = 0
        self.rss_start: float | None = None
        self.objectives: set[int] = set()
        self.retiring = False
        self.successor: _Worker | None = None   # started early to take over from this one

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, msg: Any) -> None:
        self.send_conn.send(msg)

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.kill()
        for c in (self.send_conn, self.recv_conn):
            with contextlib.suppress(Exception):
                c.close()
        with contextlib.suppress(Exception):
            self.proc.wait(5)


#: Frameworks whose thread pools a forked child would lack but believe it has: once the
#: kernel has imported one, its workers start as a fresh Python. (TensorFlow is judged by
#: whether it has run yet: see :func:`_tensorflow_started`.)
FORK_UNSAFE = ("torch", "jax", "jaxlib")


def _tensorflow_started() -> bool:
    """Whether TensorFlow has run in this process: its eager context, and with it the
    thread pools, exist (a process forked after Keras trained a model hangs in its next
    ``fit``). Importing Keras, as a notebook that defines its model function does, starts
    neither; a child forked then starts with TensorFlow already imported."""
    if "tensorflow" not in sys.modules:
        return False
    context = sys.modules.get("tensorflow.python.eager.context")
    try:
        ctx = context.context_safe()   # type: ignore[union-attr]
        return ctx is not None and ctx._context_handle is not None
    except Exception:   # noqa: BLE001 - a TensorFlow we cannot read: assume it runs
        return True


def _can_fork() -> bool:
    """Whether a worker may be forked from this process now: Linux, no framework running
    thread pools here, and no import under way in another thread (the child would wait
    forever for that module's lock, held by a thread it does not have)."""
    if os.environ.get("HPO_WIDGETS_WORKER_START", "fork") == "spawn" \
            or sys.platform != "linux" or not hasattr(os, "fork"):
        return False
    try:
        modules = list(sys.modules.items())
    except RuntimeError:   # changed size while copied: another thread is importing
        return False
    for name, mod in modules:
        if name.partition(".")[0] in FORK_UNSAFE:
            return False
        # plain modules only: touching a lazily loaded one would load it
        if type(mod) is types.ModuleType and \
                getattr(getattr(mod, "__spec__", None), "_initializing", False):
            return False
    return not _tensorflow_started()


class _ForkedProcess:
    """A worker forked from this process, with the part of ``subprocess.Popen`` we use."""

    def __init__(self, rfd: int, wfd: int, env: dict[str, str], preload: list[str]) -> None:
        import warnings

        with warnings.catch_warnings():
            # Python 3.12+ warns that a lock another thread holds at the fork stays held in
            # the child: _can_fork refuses while an import (its module lock) is under way or
            # a framework's pools exist, and _become_worker replaces the kernel's streams
            # and log handlers, the locks a worker would otherwise take
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:   # the child: never returns into the kernel's call stack
            try:
                _become_worker(rfd, wfd, env)
                _worker_main(rfd, wfd, ",".join(preload))
            finally:
                os._exit(1)
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:   # reaped elsewhere
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            time.sleep(0.01)
        return code

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)


def _become_worker(rfd: int, wfd: int, env: dict[str, str]) -> None:
    """In a freshly forked child: leave the kernel's world as a new process would.

    Every descriptor but the two pipes and stdout/stderr (captured next) is pointed at
    /dev/null: the kernel's sockets, its SQLite files and the other workers' pipes are let
    go (a kernel restart rebinds its ports; a worker sees the kernel's end close), while
    their numbers stay taken, so no Python object the child inherited can close a file
    the framework opens later.
    """
    import signal

    null = os.open(os.devnull, os.O_RDWR)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in (1, 2, rfd, wfd, null):
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
    os.environ.clear()
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # not the kernel's handler
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):   # they write to the kernel's streams
            logger.handlers.clear()


# -- warm spares shared by the pools of this process --------------------------------------
_spares: list[tuple[tuple[Any, ...], _Worker, float]] = []
_spares_lock = threading.Lock()
_janitor: threading.Thread | None = None


def _worker_env(env: dict[str, str] | None) -> dict[str, str]:
    out = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
           **(env or {})}
    # the kernel's sys.path, so objectives importing the user's modules work
    out["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return out


def _spare_key(env: dict[str, str], preload: list[str]) -> tuple[Any, ...]:
    return (sys.executable, tuple(preload), tuple(sorted(env.items())))


def _take_spare(key: tuple[Any, ...]) -> _Worker | None:
    with _spares_lock:
        for i, (k, w, _) in enumerate(_spares):
            if k == key and w.alive():
                del _spares[i]
                return w
    return None


def _give_spare(key: tuple[Any, ...], w: _Worker, keep_s: float) -> None:
    global _janitor
    if keep_s <= 0 or not w.alive():
        _stop_all([w])
        return
    with contextlib.suppress(OSError):
        w.send(("forget",))   # drop the old objectives (and what their closures hold)
    w.objectives.clear()
    with _spares_lock:
        _spares.append((key, w, time.monotonic() + keep_s))
        extra = _spares[:-MAX_SPARES] if len(_spares) > MAX_SPARES else []
        del _spares[:len(extra)]
        if _janitor is None:
            _janitor = threading.Thread(target=_sweep, daemon=True, name="hpo-warm-workers")
            _janitor.start()
    _stop_all([old for _, old, _ in extra])


def _stop_all(workers: list[_Worker], grace: float = 2.0) -> None:
    """Ask them all to leave, then kill whoever has not within ``grace`` seconds (one
    still importing its framework does not read its pipe yet)."""
    for w in workers:
        with contextlib.suppress(Exception):
            w.send(("exit",))
    deadline = time.monotonic() + grace
    for w in workers:
        with contextlib.suppress(Exception):
            w.proc.wait(max(0.05, deadline - time.monotonic()))
        w.kill()


def _sweep() -> None:
    """Stop spares whose keep-warm time ran out; end when none is left."""
    global _janitor
    while True:
        time.sleep(1.0)
        now = time.monotonic()
        with _spares_lock:
            due = [e for e in _spares if e[2] <= now or not e[1].alive()]
            for e in due:
                _spares.remove(e)
            done = not _spares
            if done:   # decided under the lock, so a new spare starts a new sweeper
                _janitor = None
        _stop_all([w for _, w, _ in due])
        if done:
            return


def warm_up(n: int = 1, *, preload: list[str] | None = None,
            env: dict[str, str] | None = None, keep_s: float | None = None) -> int:
    """Start worker processes ahead of time (they import ``preload`` now) so that the next
    :class:`ProcessWorkers` with the same ``preload`` and ``env`` starts its trials at
    once. Returns how many were started (spares already waiting count toward ``n``).
    They leave after ``keep_s`` seconds (default :data:`KEEP_WARM_S`) if nobody takes them.
    """
    keep = KEEP_WARM_S if keep_s is None else keep_s
    if keep <= 0 or n < 1:
        return 0
    full_env = _worker_env(env)
    key = _spare_key(full_env, list(preload or []))
    with _spares_lock:
        have = sum(1 for k, w, _ in _spares if k == key and w.alive())
    started = 0
    for _ in range(max(0, n - have)):
        _give_spare(key, _Worker(-1, full_env, list(preload or [])), keep)
        started += 1
    return started


def release() -> int:
    """Stop every idle warm worker now (gives their memory back); returns how many."""
    with _spares_lock:
        gone = list(_spares)
        _spares.clear()
    _stop_all([w for _, w, _ in gone])
    return len(gone)


def spares() -> int:
    """How many idle warm workers are waiting (for tests and benchmarks)."""
    with _spares_lock:
        return sum(1 for _, w, _ in _spares if w.alive())


atexit.register(release)


class _Task:
    def __init__(self, objective: Any, params: dict[str, Any], handle: Any, pass_trial: bool,
                 fut: Future[Any]) -> None:
        self.objective, self.params, self.handle = objective, params, handle
        self.pass_trial, self.fut = pass_trial, fut


class ProcessWorkers:
    """A pool of recycled worker processes for trials (an ``executor=`` for :class:`Scan`).

    >>> scan = hw.Scan(objective, space, executor=ProcessWorkers(2))   # doctest: +SKIP

    ``max_rss_growth_mb``: replace a worker once its memory grew this much since its
    first trial (the memory a framework leaks per model). ``max_tasks``: replace it
    after this many trials regardless. ``preload``: modules a new worker imports before
    it takes work (e.g. ``["keras"]``), so that import is not charged to a trial; a name
    with a leading ``+`` is imported once the worker is ready, alongside its first trial
    (``"+sklearn.metrics"``: needed only after training).
    ``env``: extra environment variables for the workers (e.g. ``KERAS_BACKEND``).
    ``keep_warm``: seconds the workers wait, idle, for the next pool after this one shuts
    down (default :data:`KEEP_WARM_S` when ``preload`` is given, else 0: a bare Python
    worker starts in a fraction of a second anyway).
    """

    # the runner protocol (hpo_widgets.runners): reports and prune questions travel both
    # ways; a hung trial's process is killed; one trial per worker
    reports_live = True
    can_abandon = True
    slots = property(lambda self: self._max_workers)

    def __init__(self, n: int = 1, *, max_rss_growth_mb: float | None = 1024,
                 max_tasks: int | None = None, preload: list[str] | None = None,
                 env: dict[str, str] | None = None, keep_warm: float | None = None) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a whole number >= 1, got {n!r}")
        if max_tasks is not None and (not isinstance(max_tasks, int) or max_tasks < 1):
            raise ValueError(f"max_tasks must be None or a whole number >= 1, got {max_tasks!r}")
        self._max_workers = n
        self.max_rss_growth_mb = max_rss_growth_mb
        self.max_tasks = max_tasks
        self.preload = list(preload or [])
        self.env = _worker_env(env)
        self.keep_warm = (KEEP_WARM_S if self.preload else 0.0) if keep_warm is None \
            else float(keep_warm)
        self._key = _spare_key(self.env, self.preload)
        self._lock = threading.Lock()
        self._queue: deque[_Task] = deque()
        self._workers: list[_Worker] = []
        self._objective_ids: dict[int, tuple[int, Any, bytes]] = {}
        self._closed = False
        self.started = 0       # processes this pool used: started, or taken warm
        self.adopted = 0       # of those, taken warm from an earlier pool or warm_up()
        self.recycled = 0      # processes retired for memory or task count
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._dispatch, daemon=True,
                                        name="hpo-process-workers")
        for _ in range(n):
            self._spawn()
        self._thread.start()

    # -- the executor interface the scan uses -------------------------------------------
    def submit_trial(self, objective: Any, params: dict[str, Any], handle: Any,
                     pass_trial: bool, key: str = "") -> Future[Any]:
        """Run one trial in a worker; reports and prune questions go through ``handle``."""
        if self._closed:
            raise RuntimeError("ProcessWorkers is shut down")
        fut: Future[Any] = Future()
        with self._lock:
            self._queue.append(_Task(objective, params, handle, pass_trial, fut))
        self._poke()
        return fut

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Future[Any]:
        """``concurrent.futures``-style: run ``fn(*args)`` in a worker."""
        fut: Future[Any] = Future()

        def call(params: dict[str, Any]) -> Any:
            return fn(*args, **kwargs)

        inner = self.submit_trial(call, {}, None, False)

        def unwrap(f: Future[Any]) -> None:
            out = f.result()
            if out.get("error"):
                fut.set_exception(RuntimeError(out["error"]))
            else:
                fut.set_result(out.get("result"))

        inner.add_done_callback(unwrap)
        return fut

    def note(self) -> str | None:
        """What the pool is doing before it can run trials ("starting a worker and
        importing keras…"), or ``None`` once a worker is ready (a dashboard shows it)."""
        with self._lock:
            if self._closed or any(w.ready for w in self._workers):
                return None
        first = [m for m in self.preload if not m.startswith("+")]
        what = f" and importing {', '.join(first)}" if first else ""
        return f"starting a worker{what}…"

    def abandon(self, fut: Future[Any]) -> None:
        """Kill the worker running ``fut`` (a hung trial) and start a fresh one."""
        with self._lock:
            for w in self._workers:
                if w.task is not None and w.task.fut is fut:
                    w.task = None
                    w.kill()
                    self._workers.remove(w)
                    self._spawn()
                    break
            self._queue = deque(t for t in self._queue if t.fut is not fut)
        self._poke()

    def shutdown(self, wait: bool = True) -> None:
        """Stop the workers (running trials are not waited for: the scan does that)."""
        self._closed = True
        self._poke()
        if wait:
            self._thread.join(10)
        # healthy idle workers become warm spares for the next pool (only once the
        # dispatcher has stopped reading their pipes); the rest leave
        can_keep = self.keep_warm > 0 and not self._thread.is_alive()
        with self._lock:
            workers, self._workers = self._workers, []
        keep = [w for w in workers if can_keep and w.task is None and not w.retiring
                and w.successor is None and w.alive()]
        for w in workers:
            if w not in keep:
                with contextlib.suppress(Exception):
                    w.send(("exit",))
        for w in keep:
            _give_spare(self._key, w, self.keep_warm)
        deadline = time.time() + 5
        for w in workers:
            if w not in keep:
                with contextlib.suppress(Exception):
                    w.proc.wait(max(0.1, deadline - time.time()))
                w.kill()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> ProcessWorkers:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    # -- internals ------------------------------------------------------------------------
    def _spawn(self) -> _Worker:
        """Bring in a worker: a warm spare with the same environment if one waits."""
        w = _take_spare(self._key) if self.keep_warm > 0 else None
        if w is None:
            w = _Worker(self.started, self.env, self.preload)
        else:
            self.adopted += 1
        self._workers.append(w)
        self.started += 1
        return w

    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _objective_bytes(self, objective: Any) -> tuple[int, bytes]:
        key = id(objective)
        cached = self._objective_ids.get(key)
        if cached is None or cached[1] is not objective:
            cached = (next(_tokens), objective, _dumps(objective))
            self._objective_ids[key] = cached
        return cached[0], cached[2]

    def _assign(self) -> None:
        with self._lock:
            for w in self._workers:
                if not self._queue:
                    return
                if w.ready and w.task is None and not w.retiring:
                    task = self._queue.popleft()
                    if task.fut.cancelled():
                        continue
                    token, blob = self._objective_bytes(task.objective)
                    first = token not in w.objectives
                    try:
                        w.send(("run", task.handle.id if task.handle else -1, token,
                                blob if first else None, task.params, task.pass_trial))
                    except OSError:
                        self._queue.appendleft(task)
                        continue
                    w.objectives.add(token)
                    w.task = task
                    task.fut.set_running_or_notify_cancel()

    def _dispatch(self) -> None:
        while not self._closed:
            self._assign()
            with self._lock:
                conns = {w.recv_conn: w for w in self._workers}
            try:
                ready = wait([*conns, self._wake_r], timeout=1.0)
            except OSError:
                ready = []
            for c in ready:
                if c == self._wake_r:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 4096)
                    continue
                w = conns.get(c)  # type: ignore[call-overload]
                if w is None:
                    continue
                try:
                    msg = c.recv()
                except (EOFError, OSError):
                    self._lost(w)
                    continue
                self._handle(w, msg)
            self._reap()

    def _handle(self, w: _Worker, msg: Any) -> None:
        kind = msg[0]
        if kind == "ready":
            w.ready = True
            for old in list(self._workers):   # a successor is ready: its elder can go
                if old.successor is w and old.task is None:
                    self._retire(old, "its successor is ready")
            return
        task = w.task
        if kind == "report":
            if task is not None and task.handle is not None:
                with contextlib.suppress(Exception):
                    task.handle.report(msg[2], msg[3])
            return
        if kind == "prune?":
            answer = False
            if task is not None and task.handle is not None:
                try:
                    answer = bool(task.handle.should_prune())
                except Exception:
                    log.exception("pruner failed")
            with contextlib.suppress(OSError):
                w.send(("prune", answer))
            return
        if kind == "done":
            outcome, rss = msg[2], msg[3]
            w.task = None
            w.tasks_done += 1
            limit = self.max_rss_growth_mb
            if w.rss_start is None:
                w.rss_start = rss
            elif limit is not None and rss - w.rss_start > limit:
                self._retire(w, f"grew {rss - w.rss_start:.0f} MB")
            elif limit is not None and rss - w.rss_start > SUCCESSOR_AT * limit:
                self._prepare_successor(w)
            if self.max_tasks is not None:
                if w.tasks_done >= self.max_tasks:
                    self._retire(w, f"ran {w.tasks_done} trials")
                elif w.tasks_done == self.max_tasks - 1 and self.preload:
                    self._prepare_successor(w)
            if w.successor is not None and w.successor.ready:
                self._retire(w, "its successor is ready")
            if task is not None and not task.fut.done():
                task.fut.set_result(outcome)

    def _prepare_successor(self, w: _Worker) -> None:
        """Start ``w``'s replacement now, while ``w`` still works: its start-up (a
        framework import takes seconds) then overlaps trials instead of stalling them."""
        if w.successor is not None or w.retiring or self._closed:
            return
        with self._lock:
            w.successor = self._spawn()

    def _retire(self, w: _Worker, why: str) -> None:
        if w.retiring:
            return
        log.info("recycling trial worker %d: %s", w.index, why)
        w.retiring = True
        self.recycled += 1
        with contextlib.suppress(OSError):
            w.send(("exit",))
        if w.successor is None or not w.successor.alive():
            with self._lock:
                self._spawn()

    def _lost(self, w: _Worker) -> None:
        code = w.proc.poll()
        if code is None:
            with contextlib.suppress(Exception):
                code = w.proc.wait(2)
        task = w.task
        w.task = None
        w.kill()
        with self._lock:
            if w in self._workers:
                self._workers.remove(w)
            was_successor = False
            for other in self._workers:
                if other.successor is w:
                    other.successor, was_successor = None, True
            replaced = w.successor is not None and w.successor.alive()
            if not self._closed and not w.retiring and not was_successor and not replaced:
                self._spawn()
        if task is not None and not task.fut.done():
            hint = " (killed: out of memory?)" if code in (-9, 137) else ""
            task.fut.set_result({
                "error": f"WorkerDied: the worker process running this trial exited with "
                         f"code {code}{hint}", "traceback": None,
                "curve": list(task.handle.curve) if task.handle is not None else []})

    def _reap(self) -> None:
        with self._lock:
            gone = [w for w in self._workers if w.retiring and w.proc.poll() is not None]
            for w in gone:
                self._workers.remove(w)
                w.kill()


# -- the worker process ---------------------------------------------------------------------
def _remote_handle(trial_id: int, params: dict[str, Any], out: Connection,
                   inbox: Connection) -> Any:
    """The ``trial`` an objective sees inside a worker: a TrialHandle whose reports go
    to the kernel and whose prune question is answered by the kernel's pruner."""
    from .trial import TrialHandle

    def send_report(handle: TrialHandle, step: float, value: float) -> None:
        out.send(("report", handle.id, step, value))

    def ask_pruner(handle: TrialHandle) -> bool:
        out.send(("prune?", handle.id))
        return bool(inbox.recv()[1])

    return TrialHandle(trial_id, params, sink=send_report, pruner=ask_pruner)


def _portable(outcome: dict[str, Any]) -> dict[str, Any]:
    """Make an outcome picklable: results become numbers, dicts of them, or text."""
    from .outcome import as_number as _as_number
    from .outcome import plain_metric as _plain_metric

    res = outcome.get("result")
    if isinstance(res, dict):
        outcome["result"] = {str(k): _plain_metric(v) for k, v in res.items()}
    elif res is not None and _as_number(res) is not None:
        outcome["result"] = _as_number(res)
    elif res is not None and not isinstance(res, str | bool):
        outcome["result"] = f"<{type(res).__name__}>"
    return outcome


class _OutputCapture:
    """Everything written to this process's file descriptors 1 and 2 (``print``, ``os.write``,
    TensorFlow's C++ logs, a child process's output) goes to a private file, not to the
    kernel's terminal or notebook; each trial gets the tail of what it wrote.

    A file, not a pipe: writers never block on a reader, and no thread is needed.
    """

    def __init__(self) -> None:
        import fcntl
        import tempfile

        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        # append mode: after a truncation every writer continues at the new end
        flags = fcntl.fcntl(self.file.fileno(), fcntl.F_GETFL)
        fcntl.fcntl(self.file.fileno(), fcntl.F_SETFL, flags | os.O_APPEND)
        for fd in (1, 2):
            os.dup2(self.file.fileno(), fd)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True,
                                      errors="replace")
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True,
                                      errors="replace")

    def start(self) -> None:
        """Forget what came before (the last trial's output, start-up chatter)."""
        self._flush()
        os.ftruncate(self.file.fileno(), 0)

    def tail(self, limit: int = OUTPUT_LIMIT) -> str:
        """The last ``limit`` characters written since :meth:`start`."""
        self._flush()
        fd = self.file.fileno()
        size = os.fstat(fd).st_size
        # 4 bytes a character at most in UTF-8: read no more than the tail can need
        want = min(size, 4 * limit)
        data = os.pread(fd, want, size - want)
        return data.decode("utf-8", errors="replace")[-limit:]

    @staticmethod
    def _flush() -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()


def _with_output(outcome: dict[str, Any], text: str) -> dict[str, Any]:
    """Put a trial's output where the scan shows it: the outcome's ``"stdout"`` (which
    :func:`hpo_widgets.outcome.interpret` keeps in the metrics, whatever the objective
    returned) and a failed trial's traceback."""
    if not text:
        return outcome
    outcome["stdout"] = text
    if outcome.get("traceback"):
        outcome["traceback"] = f"{outcome['traceback']}\n--- printed by the trial ---\n" \
                               f"{text.rstrip()}"
    return outcome


def _import_quietly(modules: list[str]) -> None:
    for mod in modules:
        with contextlib.suppress(Exception):
            __import__(mod)


def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)


#: Values of room the frame of :func:`_with_room` reserves (8 bytes each; never touched).
FRAME_ROOM = 131_072


def _roomy_call() -> Any:
    """:func:`_call` whose frame claims room for FRAME_ROOM more values than it uses.

    Why: CPython (3.11+) keeps its Python frames on a stack made of 16 KiB chunks; a call
    that does not fit in the current chunk maps a new one (``mmap`` and page faults), and
    returning from it unmaps it again. Training with Keras calls down and back up through
    dozens of frames thousands of times per ``fit``; wherever a chunk boundary falls among
    those calls, every step pays for a map and an unmap. Where it falls depends on how deep
    the caller's stack already is, so the same ``fit`` cost a worker (whose stack starts
    inside the kernel's, when forked) 3-8% more CPU than a plain loop, and the loop itself
    pays it too (``bench/keras_fit_gap.py``: 7,500-10,000 page faults per ``fit`` at
    various depths, 3,200 inside such a frame; 7% less CPU). A frame this large gets a
    chunk of its own (2 MiB, of which ~1 MiB is left for the calls below it, a depth of
    thousands of frames), mapped once: its unused room is never touched, so it costs no
    memory.
    """
    code = _call.__code__
    try:
        roomy = code.replace(co_stacksize=code.co_stacksize + FRAME_ROOM)
    except (AttributeError, TypeError, ValueError):   # not CPython: a plain call
        return _call
    return types.FunctionType(roomy, _call.__globals__, "_with_room")


_with_room = _roomy_call()


def _worker_main(rfd: int, wfd: int, preload: str) -> None:
    inbox = Connection(rfd, writable=False)
    out = Connection(wfd, readable=False)
    capture = _OutputCapture()
    mods = [m for m in preload.split(",") if m]
    import gc

    # No collection while the framework loads (collections took ~1 s of an 8 s TensorFlow
    # import on a loaded 2-core machine); then everything loaded so far is frozen, so the
    # full collections during trials walk only the trials' objects (0.3 s less each).
    gc.disable()
    try:
        for mod in (m for m in mods if not m.startswith("+")):
            with contextlib.suppress(Exception):
                __import__(mod)
        from .outcome import run_trial  # noqa: F401 - loaded now, so it is frozen too
    finally:
        gc.freeze()
        gc.enable()

    # frameworks' Python-side chatter (e.g. TensorFlow's retracing notes) is not the
    # user's business in a worker; errors still reach the trial's traceback
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        out.send(("ready",))
    except OSError:
        os._exit(0)   # the kernel went away while this worker was starting
    later = [m[1:] for m in mods if m.startswith("+")]
    if later:   # needed only after a trial's training: imported while the first one trains
        threading.Thread(target=_import_quietly, args=(later,), daemon=True,
                         name="hpo-preload").start()
    # the trials run inside a frame with room (see _with_room): their calls never cross
    # from one chunk of CPython's frame stack to the next
    _with_room(_serve, inbox, out, capture)


def _serve(inbox: Connection, out: Connection, capture: _OutputCapture) -> None:
    """Run trials as the kernel sends them, until it says exit or goes away."""
    from .outcome import run_trial

    objectives: dict[int, Any] = {}
    while True:
        try:
            msg = inbox.recv()
        except (EOFError, OSError):
            os._exit(0)   # the kernel went away
        if msg[0] == "forget":   # going back to the spares: drop the last pool's objectives
            objectives.clear()
            import gc

            gc.collect()
            continue
        if msg[0] == "exit":
            # Skip the interpreter's teardown: a framework's atexit and module cleanup
            # take seconds (2.3 s for Keras vs 0.36 s this way) and there is nothing to save.
            out.close()
            os._exit(0)
        _, tid, token, blob, params, pass_trial = msg
        if blob is not None:
            objectives[token] = pickle.loads(blob)
        handle = _remote_handle(tid, params, out, inbox)
        capture.start()
        outcome = run_trial(objectives[token], params, handle, pass_trial)  # type: ignore[arg-type]
        outcome = _with_output(outcome, capture.tail())
        try:
            out.send(("done", tid, _portable(outcome), _rss_mb()))
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            out.send(("done", tid, {"error": f"unpicklable result: {e}", "traceback": None,
                                    "curve": outcome.get("curve", [])}, _rss_mb()))


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "")
