"""Durable storage of a scan: one SQLite database per scan, in WAL mode.

Layout: ``<store>/<name>/trials.sqlite`` (the scan folder also holds artefacts such
as the best model's weights). Two tables: ``meta`` (key -> JSON: the space, metric,
mode, strategy, limits) and ``trials`` (one row per trial, JSON for params, metrics
and curve).

Durability: a trial row is written when it starts (status ``running``) and updated
in one transaction when it ends, before any listener is told. With WAL and
``synchronous=NORMAL`` a committed transaction survives the process being killed
(SIGKILL, a kernel crash); only an operating-system crash or power loss can take
the last few commits. A running scan holds an exclusive ``flock`` on
``<scan>/lock``, which the OS releases when the process dies: that is how a reopened
scan knows its ``running`` rows were interrupted and not running elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .trial import Trial

__all__ = ["ScanLocked", "Store", "list_stored", "scan_dir"]

DB_NAME = "trials.sqlite"
SCHEMA_VERSION = 1

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


class ScanLocked(RuntimeError):  # noqa: N818 - reads as a state, like TrialPruned
    """Another process (or scan object) is running this stored scan."""


def check_name(name: str) -> str:
    """Reject scan names that are not a single safe folder name."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if "/" in name or "\\" in name or name in (".", "..") or not _NAME_RE.match(name):
        raise ValueError(
            f"name {name!r} is not a plain folder name: use letters, digits, '_', '-' and "
            "'.', not starting with a dot (no '/', '..' or absolute paths), so the "
            "scan stays inside its store folder")
    return name


def scan_dir(store: str | os.PathLike[str], name: str) -> Path:
    """The folder of scan ``name`` inside ``store``, checked to stay inside it."""
    check_name(name)
    root = Path(store).expanduser().resolve()
    d = (root / name).resolve()
    if root not in d.parents:
        raise ValueError(f"name {name!r} would leave the store folder {str(root)!r}")
    return d


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, allow_nan=True)


def _json_default(obj: Any) -> Any:
    item = getattr(obj, "item", None)  # numpy scalars
    if callable(item):
        with contextlib.suppress(Exception):
            return item()
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        with contextlib.suppress(Exception):
            return tolist()
    return repr(obj)


def _value(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


class Store:
    """One scan's database. Writes come from one thread (the scan's driver); reads from any.

    >>> import tempfile, hpo_widgets as hw
    >>> s = Store(Path(tempfile.mkdtemp()) / "demo")
    >>> s.add(Trial(id=0, params={"x": 1}, status="running", started=0.0))
    >>> s.trials()[0].status
    'running'
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 readonly: bool = False) -> None:
        self.path = Path(path)
        db = self.path / DB_NAME
        if (readonly or not create) and not db.exists():
            raise FileNotFoundError(
                f"no stored scan at {str(self.path)!r} (expected {DB_NAME} there); "
                "hw.scans() lists the stored scans")
        self._lock = threading.RLock()
        self._lockfile: Any = None
        if readonly:
            # for listing: no schema, no pragmas, nothing written (a folder another
            # process is scanning into, or one the user may only read). A database with
            # no write-ahead log has no writer: read it as immutable, which creates no
            # -wal/-shm files either; one with a log is read through it.
            live = Path(f"{db}-wal").exists()
            self._db = sqlite3.connect(f"{db.resolve().as_uri()}?"
                                       f"{'mode=ro' if live else 'immutable=1'}", uri=True,
                                       check_same_thread=False, isolation_level=None,
                                       timeout=30)
            return
        self.path.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: the driver thread writes, the kernel thread reads;
        # every use goes through self._lock.
        self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
                CREATE TABLE IF NOT EXISTS trials (
                    id INTEGER PRIMARY KEY,
                    status TEXT NOT NULL,
                    params TEXT NOT NULL,
                    metrics TEXT,
                    value REAL,
                    started REAL,
                    finished REAL,
                    error TEXT,
                    traceback TEXT,
                    curve TEXT,
                    worker TEXT
                );
                """)
            if self.get_meta("schema") is None:
                self.set_meta("schema", SCHEMA_VERSION)

    # -- the lock a running scan holds ----------------------------------------------------
    def acquire(self) -> None:
        """Take the run lock, or raise :class:`ScanLocked` if someone holds it."""
        import fcntl

        if self._lockfile is not None:
            return
        f = open(self.path / "lock", "a+")  # noqa: SIM115 - held for the scan's life
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            who = f.read().strip() or "another process"
            f.close()
            raise ScanLocked(
                f"the stored scan {str(self.path)!r} is running in {who}; stop it there "
                "(scan.stop()) or give this scan another name=") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        self._lockfile = f

    def release(self) -> None:
        """Give the run lock back."""
        import fcntl

        if self._lockfile is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()
            self._lockfile = None

    def is_locked(self) -> bool:
        """Whether any process (this one included) is running this scan now."""
        import fcntl

        if self._lockfile is not None:
            return True
        p = self.path / "lock"
        if not p.exists():
            return False
        try:
            f = open(p, "rb")   # noqa: SIM115 - flock needs no write access
        except OSError:
            return False
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
        return False

    # -- meta ---------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                             (key, _dumps(value)))

    def update_meta(self, values: dict[str, Any]) -> None:
        with self._lock, self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                                 [(k, _dumps(v)) for k, v in values.items()])

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def meta(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        return {k: json.loads(v) for k, v in rows}

    # -- trials -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _row(self, t: Trial) -> tuple[Any, ...]:
        return (t.id, t.status, _dumps(t.params), _dumps(t.metrics), _value(t.value),
                t.started, t.finished, t.error, t.traceback,
                _dumps([list(p) for p in t.curve]) if t.curve else None, t.worker)

    def add(self, trial: Trial) -> None:
        """Insert (or overwrite) a trial row; committed when this returns."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO trials(id, status, params, metrics, value, "
                             "started, finished, error, traceback, curve, worker) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._row(trial))

    def add_many(self, trials: list[Trial]) -> None:
        """Write several trial rows in one transaction."""
        if not trials:
            return
        with self._lock, self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO trials(id, status, params, metrics, "
                                 "value, started, finished, error, traceback, curve, worker) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 [self._row(t) for t in trials])

    def next_id(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(id) FROM trials").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def trials(self) -> list[Trial]:
        """Every stored trial, by id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, status, params, metrics, value, started, finished, error, "
                "traceback, curve, worker FROM trials ORDER BY id").fetchall()
        return [Trial(id=r[0], status=r[1], params=json.loads(r[2]),
                      metrics=json.loads(r[3]) if r[3] else {}, value=r[4], started=r[5],
                      finished=r[6], error=r[7], traceback=r[8],
                      curve=tuple(tuple(p) for p in json.loads(r[9])) if r[9] else (),
                      worker=r[10]) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status")
            return dict(rows.fetchall())

    def mark_interrupted(self) -> int:
        """Turn rows left ``running`` by a dead process into ``interrupted``; how many."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE trials SET status = 'interrupted', error = ? WHERE status = 'running'",
                ("the process running this trial ended before it finished",))
            return cur.rowcount

    def close(self) -> None:
        self.release()
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"


def list_stored(store: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Summaries of the scans stored under ``store`` (read-only)."""
    root = Path(store).expanduser().resolve()   # absolute, like a live scan's path
    out: list[dict[str, Any]] = []
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if (p / DB_NAME).exists()):
        try:
            s = Store(d, readonly=True)
        except (sqlite3.Error, OSError):
            continue
        try:
            meta = s.meta()
            counts = s.counts()
            running = s.is_locked()
            best = None
            mode = meta.get("mode", "min")
            agg = "MIN" if mode == "min" else "MAX"
            with s._lock:
                row = s._db.execute(
                    f"SELECT {agg}(value) FROM trials WHERE status = 'finished'").fetchone()
            best = row[0] if row else None
            status = meta.get("status", "idle")
            if status in ("running", "paused", "stopping") and not running:
                status = "interrupted"
            out.append({"name": d.name, "path": str(d), "status": status,
                        "trials": sum(counts.get(k, 0) for k in ("finished", "failed", "pruned")),
                        "failed": counts.get("failed", 0), "metric": meta.get("metric"),
                        "mode": mode, "best": best,
                        "updated": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(
                            (d / DB_NAME).stat().st_mtime))})
        except sqlite3.Error:
            continue
        finally:
            s.close()
    return out
