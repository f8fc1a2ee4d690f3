"""Durable storage of a scan: one SQLite database per scan, in WAL mode.

Layout: ``<store>/<name>/trials.sqlite`` (the scan folder also holds artefacts such
as the best model's weights). Two tables: ``meta`` (key -> JSON: the space, metric,
mode, strategy, limits) and ``trials`` (one row per trial, JSON for params, metrics
and curve). ``PRAGMA user_version`` holds the schema version: a newer one is refused,
an older one is brought up to date by :data:`MIGRATIONS` when a writer opens it.

One writer: only a scan's driver writes, and only while it holds the run lock (an
exclusive ``flock`` on ``<scan>/lock``, released by the OS when the process dies). A
new trial is *inserted* under a fresh id (never ``INSERT OR REPLACE``: a stale object
can never overwrite another's rows); its end is an ``UPDATE`` of that row, committed
before any listener is told. With WAL and ``synchronous=NORMAL`` a committed
transaction survives SIGKILL.

Readers (:meth:`Store.reader`: ``hw.load`` for viewing, ``hw.scans``) open the file
read-only and write nothing, not even ``-wal``/``-shm`` files; a read-only folder works.
A file that is not a scan store raises :class:`StoreCorrupt` naming the file and what to
do; rows whose JSON cannot be decoded are skipped and reported, never fatal.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

from . import values
from .trial import Trial

__all__ = ["SCHEMA_VERSION", "ScanLocked", "Store", "StoreCorrupt", "list_stored", "scan_dir"]

DB_NAME = "trials.sqlite"
#: The schema this code writes (``PRAGMA user_version``).
SCHEMA_VERSION = 2

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_COLUMNS = ("id, status, params, metrics, value, started, finished, error, traceback, "
            "curve, worker, source, excluded")
# what a version-1 file (no source, excluded) is read with: the same row shape
_COLUMNS_V1 = ("id, status, params, metrics, value, started, finished, error, traceback, "
               "curve, worker, NULL, NULL")
_INSERT = f"INSERT INTO trials({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _tolerant(column: str) -> str:
    """SQL for ``column``'s JSON as SQLite's JSON functions accept it: Python's json
    writes a NaN or infinite float as ``NaN`` / ``Infinity``, which SQLite refuses (a
    diverged model's NaN loss must not make its trial unreadable). A NaN reads as null
    there; Python decodes the stored text itself, NaN included."""
    return (f"(CASE WHEN instr({column}, 'NaN') OR instr({column}, 'Infinity') THEN "
            f"replace(replace({column}, 'NaN', 'null'), 'Infinity', '1e999') "
            f"ELSE {column} END)")


_PARAMS, _METRICS, _CURVE = _tolerant("params"), _tolerant("metrics"), _tolerant("curve")
# a row whose JSON decodes into what a Trial holds (checked by SQLite, in C)
# a valid JSON text that starts with "{" is an object: one parse a column, not two
# (json_type would parse it again)
_WS = "' ' || char(9, 10, 13)"
_VALID = (f"(json_valid({_PARAMS}) AND ltrim(params, {_WS}) LIKE '{{%' AND (metrics IS NULL "
          f"OR metrics = '' OR (json_valid({_METRICS}) AND ltrim(metrics, {_WS}) LIKE '{{%')) "
          f"AND (curve IS NULL OR curve = '' OR json_valid({_CURVE})))")
# stricter than _VALID (an object's "{" must come first; no NaN), and a third cheaper for
# SQLite: ltrim copies every text. Most rows pass it; a row that fails it is checked
# again with _VALID, so leading blanks in a hand-edited row, or a NaN metric, still read.
_QUICK = ("(json_valid(params) AND params LIKE '{%' AND (metrics IS NULL OR metrics = '' "
          "OR (json_valid(metrics) AND metrics LIKE '{%')) AND (curve IS NULL OR curve = '' "
          "OR json_valid(curve)))")


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


_SCHEMA = """
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
    worker TEXT,
    source TEXT,
    excluded TEXT
);
CREATE TABLE IF NOT EXISTS settings_log (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    what TEXT NOT NULL,
    change TEXT,
    by TEXT NOT NULL
);
"""


def _migrate_0_to_1(db: sqlite3.Connection) -> None:
    """Stores written before ``user_version`` was set have version 1's tables already
    (their meta says ``schema: 1``); only the version number is new."""


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """Version 2 (issue 14): who proposed each trial (``source``: a strategy's name or
    ``"user"``), why it is left out of learning (``excluded``), enqueued trials stored
    as status ``queued``, and the settings history (``settings_log``)."""
    cols = {r[1] for r in db.execute("PRAGMA table_info(trials)")}
    for col in ("source", "excluded"):
        if col not in cols:
            db.execute(f"ALTER TABLE trials ADD COLUMN {col} TEXT")
    db.execute("CREATE TABLE IF NOT EXISTS settings_log (id INTEGER PRIMARY KEY, "
               "at REAL NOT NULL, what TEXT NOT NULL, change TEXT, by TEXT NOT NULL)")


#: ``MIGRATIONS[v]`` brings a database from version ``v`` to ``v + 1`` (in a writer's
#: transaction); add one here with every schema change and raise ``SCHEMA_VERSION``.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _migrate_0_to_1,
                                                              1: _migrate_1_to_2}


class ScanLocked(RuntimeError):  # noqa: N818 - reads as a state, like TrialPruned
    """Another process (or scan object) is running this stored scan."""


class StoreCorrupt(RuntimeError):  # noqa: N818 - reads as a state
    """A scan's database cannot be read: damaged, not a scan store, or too new."""

    def __init__(self, file: str | os.PathLike[str], reason: str, fix: str | None = None) -> None:
        self.file = str(file)
        self.reason = reason
        fix = fix or (
            "it is damaged or not an hpo_widgets store. Move the scan's folder aside to keep "
            f"it (a new scan with this name then starts afresh); `sqlite3 {self.file} "
            "\".recover\"` may rescue rows from a damaged file")
        super().__init__(f"{self.file}: {reason}; {fix}")


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


# no blanks after "," and ":": a tenth less to store, check and decode
_SEPARATORS = (",", ":")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, allow_nan=True, separators=_SEPARATORS)


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


_PLAIN = (str, int, float, bool, type(None))


def _params_json(params: dict[str, Any]) -> str:
    # values.encode: classes/functions by qualified name, tuples as tuples, so a resumed
    # scan hands the objective the same objects; anything else falls back to text
    if all(type(v) in _PLAIN for v in params.values()):
        return json.dumps(params, allow_nan=True, separators=_SEPARATORS)
    try:
        return json.dumps({k: values.encode(v) for k, v in params.items()}, allow_nan=True,
                          separators=_SEPARATORS)
    except TypeError:
        return _dumps(params)


def _value(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _row(t: Trial) -> tuple[Any, ...]:
    return (t.id, t.status, _params_json(t.params), _dumps(t.metrics), _value(t.value),
            t.started, t.finished, t.error, t.traceback,
            _dumps([list(p) for p in t.curve]) if t.curve else None, t.worker, t.source,
            t.excluded)


_loads = json.loads


def _not_in(ids: Any) -> str:
    """SQL that leaves out the rows ``ids`` (undecodable ones), or nothing."""
    listed = ",".join(str(int(i)) for i in ids)
    return f" AND id NOT IN ({listed})" if listed else ""


def _param_columns(text: str, names: list[str], n: int) -> dict[str, list[Any]] | None:
    """``{name: column}`` from ``text``, the params of ``n`` rows joined by commas
    (``None`` if it does not hold ``n`` rows), decoded in one ``json.loads``.

    (Measured: cutting the names out of the text to decode the rows as arrays is slower
    than this, 0.40 s against 0.24 s for 100,000 rows of 4 params.)"""
    dicts = _loads(f"[{text}]")
    if len(dicts) != n:
        return None
    if '{"$' in text or "[" in text:   # encoded classes, functions, tuples
        dicts = [{k: values.decode(v) for k, v in d.items()} for d in dicts]
    try:   # every row has every name (a space that never changed): itemgetter, in C
        return {name: list(map(itemgetter(name), dicts)) for name in names}
    except KeyError:
        return {name: [d.get(name) for d in dicts] for name in names}


def _decode_params(text: str) -> dict[str, Any]:
    raw = _loads(text)
    if type(raw) is not dict:
        raise ValueError(f"params is a {type(raw).__name__}, not an object")
    if "{" in text[1:] or "[" in text:   # an encoded class, function or tuple inside
        return {k: values.decode(v) for k, v in raw.items()}
    return raw


def _trial_from_row(r: tuple[Any, ...]) -> Trial:
    metrics = _loads(r[3]) if r[3] else {}
    if type(metrics) is not dict:
        raise ValueError(f"metrics is a {type(metrics).__name__}, not an object")
    curve = tuple((float(s), float(v)) for s, v in _loads(r[9])) if r[9] else ()
    return Trial(r[0], _decode_params(r[2]), sys.intern(r[1]), metrics, r[4], r[5], r[6], r[7],
                 r[8], curve, None if r[10] is None else sys.intern(r[10]),
                 None if r[11] is None else sys.intern(r[11]), r[12])



class Store:
    """One scan's database.

    ``Store(path)`` is the writer (creates the folder and schema; only a scan's driver,
    holding the run lock, writes trials). ``Store.reader(path)`` opens an existing scan
    read-only.

    >>> import tempfile, hpo_widgets as hw
    >>> s = Store(Path(tempfile.mkdtemp()) / "demo")
    >>> s.insert(Trial(id=0, params={"x": 1}, status="running", started=0.0))
    >>> s.trials()[0].status
    'running'
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 readonly: bool = False) -> None:
        self.path = Path(path)
        self.file = self.path / DB_NAME
        #: ``(trial id, reason)`` of rows the last :meth:`trials` call could not decode
        self.skipped: list[tuple[int, str]] = []
        #: ``{key: reason}`` of meta values :meth:`meta` could not decode
        self.bad_meta: dict[str, str] = {}
        self.readonly = readonly or not create
        self._metric_names: list[str] | None = None
        self._metric_set: set[str] = set()
        self._lock = threading.RLock()
        self._lockfile: Any = None
        self._tmpdir: str | None = None
        self._read_uri: str | None = None   # what a second reader opens (see survey)
        self.version = SCHEMA_VERSION
        self._select = _COLUMNS   # a version-1 file read as it is: _COLUMNS_V1
        db = self.file
        if self.readonly:
            if not db.exists():
                raise FileNotFoundError(
                    f"no stored scan at {str(self.path)!r} (expected {DB_NAME} there); "
                    "hw.scans() lists the stored scans")
            self._db = self._open_read(db)
            self._check_schema(write=False)
            return
        existed = db.exists() and db.stat().st_size > 0
        if db.exists() and not existed:
            raise StoreCorrupt(db, "the file is empty (0 bytes), not a scan store")
        self.path.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: the driver thread writes, the kernel thread reads;
        # every use goes through self._lock.
        self._db = self._guard(lambda: sqlite3.connect(
            db, check_same_thread=False, isolation_level=None, timeout=30))
        with self._lock:
            if existed:
                self._check_schema(write=True)
            self._guard(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            self._db.execute("PRAGMA synchronous=NORMAL")
            if not existed:
                self._db.executescript(_SCHEMA)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self.set_meta("schema", SCHEMA_VERSION)

    @classmethod
    def reader(cls, path: str | os.PathLike[str]) -> Store:
        """Open a stored scan read-only (FileNotFoundError if none; StoreCorrupt if damaged)."""
        return cls(path, readonly=True)

    # -- opening ------------------------------------------------------------------------
    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                raise
            raise StoreCorrupt(self.file, f"SQLite cannot read it ({e})") from e

    def _open_read(self, db: Path) -> sqlite3.Connection:
        # No write-ahead log: nobody is writing, read the file as immutable (creates no
        # -wal/-shm files, works in a read-only folder). With a log (a scan running, or
        # killed): read through it; where that needs writing -shm (a read-only folder),
        # read a private copy of the database and its log instead.
        def connect(target: Path, how: str) -> sqlite3.Connection:
            uri = f"{target.resolve().as_uri()}?{how}"
            con = sqlite3.connect(uri, uri=True, check_same_thread=False,
                                  isolation_level=None, timeout=30)
            con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            self._read_uri = uri
            return con

        if db.stat().st_size == 0:
            raise StoreCorrupt(db, "the file is empty (0 bytes), not a scan store")
        if not Path(f"{db}-wal").exists():
            return self._guard(lambda: connect(db, "immutable=1"))
        try:
            return connect(db, "mode=ro")
        except sqlite3.OperationalError:
            self._tmpdir = tempfile.mkdtemp(prefix="hpo-read-")
            copy = Path(self._tmpdir) / DB_NAME
            shutil.copyfile(db, copy)
            with contextlib.suppress(OSError):
                shutil.copyfile(f"{db}-wal", f"{copy}-wal")
            return self._guard(lambda: connect(copy, "mode=rw"))

    def _check_schema(self, *, write: bool) -> None:
        def read() -> tuple[int, set[str]]:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            return int(version), tables

        version, tables = self._guard(read)
        self.version = version
        self._select = _COLUMNS if version >= 2 or write else _COLUMNS_V1
        if not {"meta", "trials"} <= tables:
            raise StoreCorrupt(self.file, f"it has no scan tables (found {sorted(tables)})")
        if version > SCHEMA_VERSION:
            raise StoreCorrupt(
                self.file, f"it was written by a newer hpo_widgets (schema {version}; this "
                f"one reads up to {SCHEMA_VERSION})",
                "upgrade hpo_widgets (pip install -U hpo_widgets) to open it")
        if write and version < SCHEMA_VERSION:
            with self._lock, self._transaction():
                for v in range(version, SCHEMA_VERSION):
                    MIGRATIONS[v](self._db)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

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

    @property
    def holds_lock(self) -> bool:
        """Whether this object holds the run lock (taken by :meth:`acquire`)."""
        return self._lockfile is not None

    def is_locked(self) -> bool:
        """Whether any process (this one included) is running this scan now."""
        return self._lockfile is not None or lock_held(self.path)

    # -- meta ---------------------------------------------------------------------------
    def _writable(self) -> None:
        if self.readonly:
            raise PermissionError(f"{self.file} is open read-only (reading never writes)")

    def set_meta(self, key: str, value: Any) -> None:
        self._writable()
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                             (key, _dumps(value)))

    def update_meta(self, values_: dict[str, Any]) -> None:
        self._writable()
        with self._lock, self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                                 [(k, _dumps(v)) for k, v in values_.items()])

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._guard(lambda: self._db.execute(
                "SELECT value FROM meta WHERE key = ?", (key,)).fetchone())
        if row is None:
            return default
        try:
            return json.loads(row[0])
        except (TypeError, ValueError):
            return default

    def meta(self) -> dict[str, Any]:
        """Every meta value that decodes; the others are named in :attr:`bad_meta`."""
        with self._lock:
            rows = self._guard(lambda: self._db.execute("SELECT key, value FROM meta")
                               .fetchall())
        out: dict[str, Any] = {}
        self.bad_meta = {}
        for k, v in rows:
            try:
                out[k] = json.loads(v)
            except (TypeError, ValueError) as e:
                self.bad_meta[k] = f"{type(e).__name__}: {e}"
        return out

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

    def insert(self, trial: Trial) -> None:
        """Insert a new trial row (``sqlite3.IntegrityError`` if its id is taken: a row is
        never replaced by another trial); committed when this returns."""
        self._writable()
        with self._lock:
            self._note_metric_names(trial.metrics)
            self._db.execute(_INSERT, _row(trial))

    def update(self, trial: Trial) -> None:
        """Write a trial's new state over its own row; committed when this returns."""
        self._writable()
        t = trial
        with self._lock:
            self._note_metric_names(t.metrics)
            # params never change once a trial exists: not encoded and written again
            cur = self._db.execute(
                "UPDATE trials SET status=?, metrics=?, value=?, started=?, finished=?, "
                "error=?, traceback=?, curve=?, worker=?, source=?, excluded=? WHERE id=?",
                (t.status, _dumps(t.metrics), _value(t.value), t.started, t.finished,
                 t.error, t.traceback, _dumps([list(p) for p in t.curve]) if t.curve
                 else None, t.worker, t.source, t.excluded, t.id))
            if cur.rowcount == 0:
                self._db.execute(_INSERT, _row(t))

    def _note_metric_names(self, metrics: dict[str, Any]) -> None:
        """Keep meta ``metric_names`` (every metric name stored, first seen first) up to
        date, before the row that brings a new name: a reopened scan's ``results`` then
        needs no pass over every row's JSON to find its columns."""
        if not metrics:
            return
        known = self._metric_names
        if known is None:
            stored = self.get_meta("metric_names")
            known = self._metric_names = list(stored) if isinstance(stored, list) \
                else self.metric_names()
            self._metric_set = set(known)
            if not isinstance(stored, list):
                self.set_meta("metric_names", known)
        new = [k for k in metrics if k not in self._metric_set]
        if new:
            known.extend(new)
            self._metric_set.update(new)
            self.set_meta("metric_names", known)

    def stored_metric_names(self) -> list[str]:
        """Every metric name stored (from meta when a writer kept it, else from the rows)."""
        names = self.get_meta("metric_names")
        return list(names) if isinstance(names, list) else self.metric_names()

    def add(self, trial: Trial) -> None:
        """Write a trial: its own row is updated, a new id inserted (see :meth:`insert`)."""
        self.update(trial)

    def add_many(self, trials: list[Trial]) -> None:
        """Insert several new trial rows in one transaction."""
        self._writable()
        if not trials:
            return
        with self._lock:
            for t in trials:
                self._note_metric_names(t.metrics)
        with self._lock, self._transaction():
            self._db.executemany(_INSERT, [_row(t) for t in trials])

    def next_id(self) -> int:
        """The first id never used, undecodable rows included (ids are never reused)."""
        with self._lock:
            row = self._guard(lambda: self._db.execute("SELECT MAX(id) FROM trials")
                              .fetchone())
        return 0 if row[0] is None else int(row[0]) + 1

    def trials(self) -> list[Trial]:
        """Every stored trial that decodes, by id; the others are listed in
        :attr:`skipped` as ``(id, reason)``.

        SQLite checks the JSON of every row first; the params and metrics of the good
        ones are then decoded in two calls over all rows (not two per row), which makes
        reopening a scan of a million trials several times faster."""
        try:
            return self._trials_bulk()
        except (ValueError, TypeError, StoreCorrupt):
            pass   # a row that SQLite's JSON and Python's disagree on: one by one
        with self._lock:
            rows = self._guard(lambda: self._db.execute(
                f"SELECT {self._select} FROM trials ORDER BY id").fetchall())
        out: list[Trial] = []
        skipped: list[tuple[int, str]] = []
        for r in rows:
            try:
                out.append(_trial_from_row(r))
            except Exception as e:  # noqa: BLE001 - one bad row must not hide the others
                skipped.append((r[0], f"{type(e).__name__}: {e}"))
        self.skipped = skipped
        return out

    def _trials_bulk(self) -> list[Trial]:
        bad = self.invalid_rows()
        not_bad = _not_in(i for i, _ in bad)
        marks = ", source, excluded" if self._select == _COLUMNS else ", NULL, NULL"
        with self._lock:
            rows = self._guard(lambda: self._db.execute(
                "SELECT id, status, value, started, finished, error, traceback, curve, "
                f"worker{marks} FROM trials WHERE 1{not_bad} ORDER BY id").fetchall())
            ptext = self._guard(lambda: self._db.execute(
                "SELECT group_concat(params, ',') FROM (SELECT params FROM trials "
                f"WHERE 1{not_bad} ORDER BY id)").fetchone()[0]) or ""
            mtext = self._guard(lambda: self._db.execute(
                "SELECT group_concat(coalesce(nullif(metrics, ''), '{}'), ',') FROM "
                f"(SELECT metrics FROM trials WHERE 1{not_bad} ORDER BY id)")
                .fetchone()[0]) or ""
        params = _loads(f"[{ptext}]")
        metrics = _loads(f"[{mtext}]")
        if not (len(params) == len(metrics) == len(rows)):
            raise ValueError("rows changed while read")
        if '{"$' in ptext or "[" in ptext:   # encoded classes, functions, tuples
            params = [{k: values.decode(v) for k, v in d.items()} for d in params]
        intern = sys.intern
        out = []
        for r, p, m in zip(rows, params, metrics, strict=True):
            curve = tuple((float(a), float(b)) for a, b in _loads(r[7])) if r[7] else ()
            out.append(Trial(r[0], p, intern(r[1]), m, r[2], r[3], r[4], r[5], r[6], curve,
                             None if r[8] is None else intern(r[8]),
                             None if r[9] is None else intern(r[9]), r[10]))
        self.skipped = bad
        return out

    # -- reading without building Trial objects (a reopened scan of 1,000,000 trials) -----
    def invalid_rows(self) -> list[tuple[int, str]]:
        """``(id, reason)`` of rows :meth:`trials` would skip, found by SQLite's JSON
        functions without decoding the others in Python."""
        with self._lock:
            rows = self._guard(lambda: self._db.execute(
                f"SELECT id, json_valid({_PARAMS}), json_valid({_METRICS}), json_valid({_CURVE}) "
                f"FROM trials WHERE NOT {_QUICK} AND NOT {_VALID} ORDER BY id").fetchall())
        out = []
        for tid, p, m, c in rows:
            what = "params" if not p else "metrics" if not m else "curve" if not c else \
                "params or metrics"
            out.append((tid, f"{what} is not valid JSON (or not an object)"))
        return out

    def survey(self, metric: str, minimize: bool
               ) -> tuple[list[tuple[int, str]], dict[str, int], int | None]:
        """``(invalid_rows(), counts, best id)``: :meth:`invalid_rows`, then
        :meth:`summary` without them.

        Opened for reading, the JSON check runs on a second connection while this one
        counts: SQLite lets go of Python's lock while it works, so on two cores the two
        passes overlap (a reopened scan of 100,000 trials: 0.08 s instead of 0.13 s). The
        counts are taken again only if some row fails the check.

        (Measured: splitting the check itself, params on one connection and metrics on
        the other, is slower than both in a row, 104 ms against 92: SQLite's JSON
        parsers allocate through one process-wide lock.)"""
        if self._read_uri is None:   # the writer: one connection
            invalid = self.invalid_rows()
            return (invalid, *self.summary(metric, minimize, invalid))
        first_bad = self._beside(lambda con: con.execute(
            f"SELECT id FROM trials WHERE NOT {_QUICK} LIMIT 1").fetchall())
        try:
            counts, best = self.summary(metric, minimize)
        finally:
            bad = first_bad()
        if bad == []:
            return [], counts, best
        invalid = self.invalid_rows()   # some row may be bad (or the check could not run)
        return (invalid, *self.summary(metric, minimize, invalid)) if invalid else \
            ([], counts, best)

    def _beside(self, work: Callable[[sqlite3.Connection], Any]) -> Callable[[], Any]:
        """Start ``work(connection)`` on a second read-only connection, in a thread, and
        return a function that waits for it and gives its result (``None`` if SQLite
        failed there: the caller then does the work on this connection).

        SQLite lets go of Python's lock while it works, so on two cores the work overlaps
        what this thread does meanwhile."""
        done: dict[str, Any] = {}

        def run() -> None:
            with contextlib.suppress(sqlite3.Error):
                con = sqlite3.connect(self._read_uri, uri=True, isolation_level=None,
                                      timeout=30)
                try:
                    done["out"] = work(con)
                finally:
                    con.close()

        thread = threading.Thread(target=run, name="hpo-store-read", daemon=True)
        thread.start()

        def result() -> Any:
            thread.join()
            return done.get("out")

        return result

    def summary(self, metric: str, minimize: bool,
                invalid: list[tuple[int, str]] = ()) -> tuple[dict[str, int], int | None]:
        """Counts per status and the id of the best finished trial, computed in SQLite
        (``invalid``: the rows :meth:`invalid_rows` found, left out)."""
        bad = sorted({int(i) for i, _ in invalid})
        not_bad = _not_in(bad)
        with self._lock:
            counts = dict(self._guard(lambda: self._db.execute(
                f"SELECT status, COUNT(*) FROM trials WHERE 1{not_bad} GROUP BY status")
                .fetchall()))
            if self.get_meta("metric") == metric:
                # the value column holds this metric for every finished trial: no JSON
                # SQLite's bare-column MIN/MAX: the row of the extreme value, one pass
                best = self._guard(lambda: self._db.execute(
                    f"SELECT id, {'MIN' if minimize else 'MAX'}(value) FROM trials WHERE "
                    f"status = 'finished' AND value IS NOT NULL{not_bad}{self._kept}")
                    .fetchone())
                return counts, None if best is None or best[0] is None else int(best[0])
            path = {"p": _json_path(metric)}
            # a finished row without this metric as a finite number reads as failed
            # (see driver.rescore; an infinite one is stored as 1e999 for SQLite)
            scored = (f"json_type({_METRICS}, :p) IN ('integer', 'real') AND "
                      f"abs(json_extract({_METRICS}, :p)) <= 1.7976931348623157e308")
            unscored = self._guard(lambda: self._db.execute(
                f"SELECT COUNT(*) FROM trials WHERE status = 'finished' AND {_VALID} AND "
                f"NOT coalesce({scored}, 0)", path).fetchone()[0])
            if unscored:
                counts["finished"] -= unscored
                counts["failed"] = counts.get("failed", 0) + unscored
            best = self._guard(lambda: self._db.execute(
                f"SELECT id FROM trials WHERE status = 'finished' AND {_VALID} AND "
                f"{scored}{self._kept} ORDER BY json_extract({_METRICS}, :p) "
                f"{'ASC' if minimize else 'DESC'}, finished, id LIMIT 1", path).fetchone())
        return counts, None if best is None else int(best[0])

    def trial(self, trial_id: int) -> Trial | None:
        """One stored trial (``None`` if there is none, or it cannot be decoded)."""
        with self._lock:
            r = self._guard(lambda: self._db.execute(
                f"SELECT {self._select} FROM trials WHERE id = ?", (int(trial_id),)).fetchone())
        if r is None:
            return None
        try:
            return _trial_from_row(r)
        except Exception:  # noqa: BLE001 - an undecodable row is a skipped row
            return None

    def metric_names(self) -> list[str]:
        """Every metric name stored, in the order they first appear."""
        with self._lock:
            rows = self._guard(lambda: self._db.execute(
                f"WITH ok AS MATERIALIZED (SELECT id, {_METRICS} AS metrics FROM trials WHERE "
                f"{_VALID} AND metrics IS NOT NULL AND metrics != '') "
                "SELECT j.key FROM ok, json_each(ok.metrics) AS j GROUP BY j.key "
                "ORDER BY MIN(ok.id), MIN(j.id)").fetchall())
        return [r[0] for r in rows]

    def frame_columns(self, skip: list[int], names: list[str], *,
                      metrics: bool = True) -> tuple[Any, ...]:
        """Every row but ``skip`` (undecodable ids), by id, as columns: ``(ids, statuses,
        values, started, finished, errors, params, metrics, sources, excluded)``;
        ``params`` maps each of ``names`` to its column; ``metrics`` is a list of dicts,
        or with ``metrics=False`` ``{row index: metrics}`` of the rows not finished (a
        finished row's metric is its ``value``). The JSON of all rows is decoded in one
        call, not one per row."""
        v2 = self._select == _COLUMNS
        with self._lock:
            top = self._guard(lambda: self._db.execute("SELECT MAX(id) FROM trials")
                              .fetchone()[0])
        # rows a writer adds meanwhile are left out of every query: one set of rows
        kept = f"{_not_in(skip)} AND id <= {-1 if top is None else int(top)}"
        unfinished = "status != 'finished' AND metrics IS NOT NULL AND metrics != ''"
        other_metrics = "NULL" if metrics else f"CASE WHEN {unfinished} THEN metrics END"

        def sparse_and_json(con: sqlite3.Connection) -> tuple[Any, ...]:
            # columns that are mostly empty or all alike (error, excluded, source; the
            # metrics of unfinished rows) are read apart, in one pass: only the rows
            # that differ from the first (a third less time to fetch 100,000 rows)
            first = con.execute(f"SELECT source FROM trials WHERE 1{kept} ORDER BY id "
                                "LIMIT 1").fetchone() if v2 else None
            first_source = None if first is None else first[0]
            odd = con.execute(
                f"SELECT id, error, excluded, source, {other_metrics} FROM trials WHERE "
                f"(error IS NOT NULL OR excluded IS NOT NULL OR source IS NOT ?"
                f"{'' if metrics else ' OR ' + unfinished}){kept}", (first_source,)
            ).fetchall() if v2 else con.execute(
                f"SELECT id, error, NULL, NULL, {other_metrics} FROM trials WHERE "
                f"(error IS NOT NULL{'' if metrics else ' OR ' + unfinished}){kept}"
            ).fetchall()
            ptext = con.execute(
                "SELECT group_concat(params, ',') FROM (SELECT params FROM trials "
                f"WHERE 1{kept} ORDER BY id)").fetchone()[0] or ""
            mtext = con.execute(
                "SELECT group_concat(coalesce(nullif(metrics, ''), '{}'), ',') FROM "
                f"(SELECT metrics FROM trials WHERE 1{kept} ORDER BY id)"
            ).fetchone()[0] or "" if metrics else ""
            return first_source, odd, ptext, mtext

        # opened for reading, those run on a second connection while this one fetches
        # the rows
        side = self._beside(sparse_and_json) if self._read_uri is not None else None
        try:
            with self._lock:
                rows = self._guard(lambda: self._db.execute(
                    "SELECT id, status, value, started, finished FROM trials "
                    f"WHERE 1{kept} ORDER BY id").fetchall())
        finally:
            out = None if side is None else side()
        if out is None:   # the writer, or the second connection failed: here
            with self._lock:
                out = self._guard(lambda: sparse_and_json(self._db))
        first_source, odd, ptext, mtext = out
        if not rows:
            return ([], [], [], [], [], [], {n: [] for n in names},
                    [] if metrics else {}, [], [])
        # a column at a time through itemgetter: a third of the time of zip(*rows)
        ids, statuses, values_, started, finished = (list(map(itemgetter(k), rows))
                                                     for k in range(5))
        del rows
        n = len(ids)
        errors: list[Any] = [None] * n
        excluded: list[Any] = [None] * n
        sources: list[Any] = [first_source] * n
        mets: Any = {}
        if odd:
            at = {tid: i for i, tid in enumerate(ids)}
            for tid, err, why, source, m in odd:
                i = at.get(tid)
                if i is not None:
                    errors[i], excluded[i], sources[i] = err, why, source
                    if m is not None:
                        mets[i] = _loads(m)
        params = _param_columns(ptext, names, len(ids))
        if params is None:
            raise StoreCorrupt(self.file, "its rows changed while they were read; read again")
        if metrics:
            mets = _loads(f"[{mtext}]")
        return (ids, statuses, values_, started, finished, errors, params, mets,
                sources, excluded)

    @property
    def _kept(self) -> str:
        """SQL that leaves out excluded trials (none can be excluded in a version-1 file)."""
        return " AND excluded IS NULL" if self._select == _COLUMNS else ""

    # -- the settings history -------------------------------------------------------------
    def log_settings(self, entries: list[dict[str, Any]]) -> None:
        """Append entries ``{at, what, change, by}`` to the settings history (a writer,
        under the run lock, like every write)."""
        self._writable()
        if not entries:
            return
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT INTO settings_log(at, what, change, by) VALUES (?, ?, ?, ?)",
                [(float(e["at"]), str(e["what"]), _dumps(e.get("change")), str(e["by"]))
                 for e in entries])

    def settings_log(self) -> list[dict[str, Any]]:
        """The settings history, oldest first (empty for a version-1 file)."""
        if self._select != _COLUMNS:
            return []
        with self._lock:
            rows = self._guard(lambda: self._db.execute(
                "SELECT at, what, change, by FROM settings_log ORDER BY id").fetchall())
        out = []
        for at, what, change, by in rows:
            try:
                change = json.loads(change) if change is not None else None
            except (TypeError, ValueError):
                pass
            out.append({"at": at, "what": what, "change": change, "by": by})
        return out

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._guard(lambda: self._db.execute(
                "SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())
            return dict(rows)

    def mark_interrupted(self) -> int:
        """Turn rows left ``running`` by a dead process into ``interrupted``; how many."""
        self._writable()
        with self._lock:
            cur = self._db.execute(
                "UPDATE trials SET status = 'interrupted', error = ? WHERE status = 'running'",
                ("the process running this trial ended before it finished",))
            return cur.rowcount

    def close(self) -> None:
        self.release()
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}{', read-only' if self.readonly else ''})"


def lock_held(path: str | os.PathLike[str]) -> bool:
    """Whether some process holds the run lock of the scan folder ``path``."""
    import fcntl

    p = Path(path) / "lock"
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


def list_stored(store: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Summaries of the scans stored under ``store`` (read-only). A scan that cannot be
    read is listed too, with status ``unreadable`` and the reason in ``message``."""
    root = Path(store).expanduser().resolve()   # absolute, like a live scan's path
    out: list[dict[str, Any]] = []
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if (p / DB_NAME).exists()):
        updated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(
            (d / DB_NAME).stat().st_mtime))
        try:
            with Store.reader(d) as s:
                meta = s.meta()
                counts = s.counts()
                mode = meta.get("mode") if meta.get("mode") in ("min", "max") else "min"
                agg = "MIN" if mode == "min" else "MAX"
                with s._lock:
                    row = s._db.execute(
                        f"SELECT {agg}(value) FROM trials WHERE status = 'finished'"
                        f"{s._kept}").fetchone()   # an excluded trial is never the best
                status = meta.get("status", "idle")
                if status in ("running", "paused", "stopping") and not s.is_locked():
                    status = "interrupted"
                message = meta.get("message", "")
                if s.bad_meta:
                    message = f"unreadable meta values: {s.bad_meta}"
                out.append({"name": d.name, "path": str(d), "status": status,
                            "trials": sum(counts.get(k, 0)
                                          for k in ("finished", "failed", "pruned")),
                            "failed": counts.get("failed", 0), "metric": meta.get("metric"),
                            "mode": mode, "best": row[0] if row else None,
                            "updated": updated, "message": message})
        except Exception as e:  # noqa: BLE001 - one broken scan must not hide the others
            out.append({"name": d.name, "path": str(d), "status": "unreadable",
                        "trials": None, "failed": None, "metric": None, "mode": None,
                        "best": None, "updated": updated,
                        "message": f"{type(e).__name__}: {e}"})
    return out
