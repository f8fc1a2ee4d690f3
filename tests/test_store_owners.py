"""The store has one writer, is re-read on start, and reading it never writes.

Each test reproduces a finding of issue 10 with the public API (two scan objects for one
stored scan, a second process, a read-only folder, damaged files)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

import hpo_widgets as hw
from hpo_widgets.store import SCHEMA_VERSION

SPACE = {"x": (0.0, 1.0), "k": [1, 2, 3]}


@contextlib.contextmanager
def read_only(folder: Path):
    """Nothing in ``folder`` can be written, created or deleted while this lasts."""
    paths = [folder, *folder.rglob("*")]
    if os.getuid() == 0:
        done = []
        try:
            for p in reversed(paths):
                r = subprocess.run(["chattr", "+i", str(p)], capture_output=True)
                if r.returncode != 0:
                    pytest.skip(f"cannot make {p} read-only here: {r.stderr!r}")
                done.append(p)
            yield
        finally:
            for p in done:
                subprocess.run(["chattr", "-i", str(p)], capture_output=True)
    else:
        modes = {p: p.stat().st_mode for p in paths}
        try:
            for p in reversed(paths):
                p.chmod(0o555 if p.is_dir() else 0o444)
            yield
        finally:
            for p, m in modes.items():
                p.chmod(m)


def loss(params):
    return {"loss": (params["x"] - 0.3) ** 2 + params["k"]}


def _rows(folder):
    con = sqlite3.connect(folder / "trials.sqlite")
    try:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT id, status, params, metrics, value, started, finished FROM trials")}
    finally:
        con.close()


def _files(folder):
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


# -- two writers ----------------------------------------------------------------------------
def test_a_stale_object_in_the_same_kernel_continues_and_overwrites_nothing(store):
    s1 = hw.Scan(loss, SPACE, metric="loss", max_trials=40, name="twice", store=store, seed=1)
    s2 = hw.Scan(loss, SPACE, metric="loss", max_trials=50, name="twice", store=store, seed=2)
    s1.start().wait(30)
    before = _rows(store / "twice")
    assert len(before) == 40
    s2.start().wait(30)      # built before s1 ran: it must re-read the store on start
    after = _rows(store / "twice")
    assert {i: after[i] for i in before} == before          # none of s1's rows replaced
    assert sorted(after) == list(range(50))                  # ids never reused
    assert s2.n_done == 50 and s2.status == "finished"
    assert [t.id for t in s2.trials] == list(range(50))


def test_a_stale_object_at_its_limit_stores_nothing_new(store):
    s1 = hw.Scan(loss, SPACE, metric="loss", max_trials=40, name="same", store=store)
    s2 = hw.Scan(loss, SPACE, metric="loss", max_trials=40, name="same", store=store)
    s1.start().wait(30)
    before = _rows(store / "same")
    s2.start().wait(30)
    assert _rows(store / "same") == before
    assert s2.n_done == 40 and "max_trials reached (40)" in s2.message


WRITER = textwrap.dedent("""
    import sys
    import hpo_widgets as hw

    def loss(params):
        return {"loss": (params["x"] - 0.3) ** 2 + params["k"]}

    scan = hw.Scan(loss, {"x": (0.0, 1.0), "k": [1, 2, 3]}, metric="loss", max_trials=50,
                   name="shared", store=sys.argv[1], seed=5)
    scan.start().wait()
    print(scan.n_done)
""")


def test_another_process_ran_the_scan_meanwhile_and_its_rows_are_kept(store, tmp_path):
    here = hw.Scan(loss, SPACE, metric="loss", max_trials=60, name="shared", store=store)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    out = subprocess.run([sys.executable, str(script), str(store)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    theirs = _rows(store / "shared")
    assert len(theirs) == 50
    here.start().wait(30)
    now = _rows(store / "shared")
    assert {i: now[i] for i in theirs} == theirs
    assert sorted(now) == list(range(60)) and here.n_done == 60


# -- reads never write ------------------------------------------------------------------
def test_load_for_viewing_writes_nothing_and_a_finished_scan_stays_finished(store):
    scan = hw.Scan(loss, SPACE, metric="loss", max_trials=5, name="done", store=store)
    scan.start().wait(10)
    scan.close()
    folder = store / "done"
    before = _files(folder)
    con = sqlite3.connect(folder / "trials.sqlite")
    meta_before = dict(con.execute("SELECT key, value FROM meta"))
    con.close()
    seen = hw.load(folder)
    assert len(seen.results) == 5 and seen.status == "finished"
    hw.scans(store)
    assert _files(folder) == before
    con = sqlite3.connect(folder / "trials.sqlite")
    assert dict(con.execute("SELECT key, value FROM meta")) == meta_before
    con.close()
    assert json.loads(meta_before["status"]) == "finished"


def test_a_read_only_folder_still_shows_its_results(store):
    scan = hw.Scan(loss, SPACE, metric="loss", max_trials=6, name="frozen", store=store)
    scan.start().wait(10)
    scan.close()
    with read_only(store):
        seen = hw.load(store / "frozen")
        df = seen.results
        listed = hw.scans(store)
    assert len(df) == 6 and (df.status == "finished").all()
    assert listed.set_index("name").loc["frozen", "status"] == "finished"


def test_a_running_scan_can_be_viewed_while_it_writes(store):
    import threading

    gate = threading.Event()

    def slow(params):
        gate.wait(10)
        return loss(params)

    scan = hw.Scan(slow, SPACE, metric="loss", max_trials=3, name="live", store=store)
    scan.start()
    deadline = time.time() + 10
    while scan.counts["running"] != 1 and time.time() < deadline:
        time.sleep(0.01)
    seen = hw.load(store / "live")
    assert seen.status == "running" and seen.counts["running"] == 1
    gate.set()
    assert scan.wait(10)


# -- damage -------------------------------------------------------------------------------
def _store_corrupt():
    from hpo_widgets.store import StoreCorrupt

    return StoreCorrupt


@pytest.mark.parametrize("content", [b"", b"this is not a database" * 100])
def test_an_empty_or_foreign_file_is_a_named_error_not_an_empty_scan(store, content):
    folder = store / "broken"
    folder.mkdir(parents=True)
    (folder / "trials.sqlite").write_bytes(content)
    with pytest.raises(_store_corrupt(), match=r"trials\.sqlite.*(Move|move)"):
        hw.load(folder)
    with pytest.raises(_store_corrupt()):
        hw.Scan(loss, SPACE, metric="loss", name="broken", store=store)
    assert (folder / "trials.sqlite").read_bytes() == content   # left as it was


def test_a_database_without_scan_tables_is_a_named_error(store):
    folder = store / "other"
    folder.mkdir(parents=True)
    con = sqlite3.connect(folder / "trials.sqlite")
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    with pytest.raises(_store_corrupt(), match="no scan tables"):
        hw.load(folder)


def test_rows_with_bad_json_are_skipped_counted_and_named(store):
    scan = hw.Scan(loss, SPACE, metric="loss", max_trials=200, name="hurt", store=store)
    scan.start().wait(60)
    scan.close()
    con = sqlite3.connect(store / "hurt" / "trials.sqlite")
    con.execute("UPDATE trials SET params = '{not json' WHERE id = 17")
    con.execute("UPDATE trials SET metrics = '[1, 2' WHERE id = 150")
    con.commit()
    con.close()
    with pytest.warns(UserWarning, match=r"2 stored trial\(s\) could not be read.*17"):
        seen = hw.load(store / "hurt")
    assert len(seen.trials) == 198 and len(seen.results) == 198
    assert [i for i, _ in seen.skipped_trials] == [17, 150]
    assert all("JSON" in why or "Expecting" in why for _, why in seen.skipped_trials)
    # resuming never reuses a skipped row's id, nor touches the row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        more = hw.load(store / "hurt", objective=loss, max_trials=201)
        more.start().wait(30)
    rows = _rows(store / "hurt")
    assert rows[17][1] == "{not json" and max(rows) == 202


def test_scans_lists_every_scan_and_names_the_broken_ones(store):
    ok = hw.Scan(loss, SPACE, metric="loss", max_trials=2, name="ok", store=store)
    ok.start().wait(10)
    ok.close()
    bad_meta = hw.Scan(loss, SPACE, metric="loss", max_trials=2, name="badmeta", store=store)
    bad_meta.start().wait(10)
    bad_meta.close()
    con = sqlite3.connect(store / "badmeta" / "trials.sqlite")
    con.execute("UPDATE meta SET value = '{oops' WHERE key = 'metric'")
    con.commit()
    con.close()
    (store / "garbage").mkdir()
    (store / "garbage" / "trials.sqlite").write_bytes(b"x" * 4096)
    from hpo_widgets.store import list_stored

    rows = {r["name"]: r for r in list_stored(store)}
    assert set(rows) == {"ok", "badmeta", "garbage"}
    assert rows["ok"]["status"] == "finished"
    assert rows["garbage"]["status"] == "unreadable" and "trials.sqlite" in rows["garbage"][
        "message"]
    assert "metric" in rows["badmeta"]["message"]
    df = hw.scans(store)
    assert set(df.name) >= {"ok", "badmeta", "garbage"}


def test_the_schema_version_is_written_checked_and_a_newer_one_refused(store):
    scan = hw.Scan(loss, SPACE, metric="loss", max_trials=2, name="v", store=store)
    scan.start().wait(10)
    scan.close()
    db = store / "v" / "trials.sqlite"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.execute("PRAGMA user_version = 0")     # as stores before versioning were
    con.commit()
    con.close()
    assert len(hw.load(store / "v").trials) == 2        # an older store reads
    again = hw.load(store / "v", objective=loss, max_trials=3)
    again.start().wait(10)
    again.close()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION   # migrated
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    with pytest.raises(_store_corrupt(), match="newer hpo_widgets.*upgrade"):
        hw.load(store / "v")


def _report_prune_or_fail(params, trial):
    """What makes a scan's rows differ: a report, then pruned (x > 0.8) or failed
    (x < 0.1)."""
    trial.report(0, params["x"])
    if params["x"] > 0.8:
        trial.prune()
    if params["x"] < 0.1:
        raise ValueError("too small")


def test_a_reopened_scan_shows_the_same_results_as_the_live_one(store):
    from collections import OrderedDict  # an importable class as a parameter value

    space = {"x": (0.0, 1.0), "kind": hw.Choice([dict, OrderedDict]), "bn": hw.Bool(),
             "act": ["relu", "elu"], "epochs": 3}

    def objective(params, trial):
        _report_prune_or_fail(params, trial)
        extra = {"acc": 1 - params["x"]} if params["bn"] else {}
        return {"loss": params["x"], **extra}

    scan = hw.Scan(objective, space, metric="loss", max_trials=60, seed=3, store=store,
                   name="same")
    scan.start().wait(30)
    live = scan.results
    assert set(live.status) == {"finished", "failed", "pruned"}
    assert set(live.kind) == {"dict", "OrderedDict"}
    seen = hw.load(store / "same")
    assert seen.counts == scan.counts and seen.n_done == 60
    assert seen.best.id == scan.best.id and seen.best.params == scan.best.params
    reopened = seen.results
    import pandas as pd

    pd.testing.assert_frame_equal(reopened, live)
    assert seen.trial(5) == scan.trial(5)
    assert [t.params for t in seen.trials] == [t.params for t in scan.trials]


def test_an_insert_never_replaces_a_stored_trial(store):
    from hpo_widgets.store import Store

    s = Store(store / "ins")
    s.insert(hw.Trial(id=0, params={"x": 0.1}, status="finished", metrics={"loss": 1.0},
                      value=1.0))
    with pytest.raises(sqlite3.IntegrityError):
        s.insert(hw.Trial(id=0, params={"x": 0.9}, status="running"))
    assert s.trials()[0].params == {"x": 0.1}
    s.close()


def test_restarting_the_same_object_does_not_reread_what_it_wrote(store, monkeypatch):
    from hpo_widgets.store import Store

    scan = hw.Scan(loss, SPACE, metric="loss", max_trials=5, name="again", store=store)
    scan.start().wait(10)
    reads = []
    real = Store.trials
    monkeypatch.setattr(Store, "trials", lambda self: reads.append(1) or real(self))
    scan.max_trials = 10
    scan.start().wait(10)
    assert reads == [] and scan.n_done == 10     # nobody else wrote: memory is the store
    other = hw.Scan(loss, SPACE, metric="loss", max_trials=12, name="again", store=store)
    other.start().wait(10)
    scan.max_trials = 14
    scan.start().wait(10)                          # someone else wrote: read it all again
    assert reads and scan.n_done == 14 and sorted(_rows(store / "again")) == list(range(14))


@pytest.mark.parametrize("first", ["strategy", "user"])
def test_a_reopened_single_metric_scan_shows_the_same_results(store, first):
    """The reopened frame of a scan with one metric reads the value column and, apart,
    the rows that differ: failed (error), excluded, the user's own suggestions (source)
    and pruned trials (their last report)."""
    import pandas as pd

    def objective(params, trial):
        _report_prune_or_fail(params, trial)
        return params["x"]

    scan = hw.Scan(objective, {"x": (0.0, 1.0)}, metric="loss", max_trials=40, seed=5,
                   store=store, name=f"one-{first}")
    if first == "user":
        scan.enqueue([{"x": 0.5}, {"x": 0.05}])
    scan.start().wait(30)
    if first == "strategy":
        scan.enqueue({"x": 0.25})
        scan.max_trials = 41
        scan.start().wait(30)
    scan.exclude(3, "a bad node")
    live = scan.results
    assert {"finished", "failed", "pruned"} <= set(live.status)
    assert live.source.nunique() == 2 and live.excluded.notna().sum() == 1
    reopened = hw.load(store / f"one-{first}").results
    pd.testing.assert_frame_equal(reopened, live)


def _diverging(params):
    """A model that diverges for large x (NaN loss) and has an undefined or infinite
    second metric for others: what a Keras search of learning rates produces."""
    x = params["x"]
    if x > 0.7:
        return {"loss": float("nan"), "acc": 0.1}
    if x < 0.3:
        return {"loss": x, "acc": float("nan")}
    return {"loss": x, "acc": 1 - x if x < 0.5 else float("inf")}


def test_nan_and_infinite_metrics_do_not_make_trials_unreadable(store):
    """Python writes NaN/Infinity into the JSON, which SQLite's JSON check refused: every
    trial with a NaN metric was skipped as 'not valid JSON' on reopen and on resume."""
    import pandas as pd

    scan = hw.Scan(_diverging, {"x": (0.0, 1.0)}, metric="loss", max_trials=16, seed=1,
                   store=store, name="nan")
    scan.start().wait(30)
    assert scan.counts["failed"] >= 1 and scan.counts["finished"] >= 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no "could not be read" warning
        seen = hw.load(store / "nan")
        resumed = hw.Scan(_diverging, {"x": (0.0, 1.0)}, metric="loss", max_trials=16,
                          seed=1, store=store, name="nan")
    assert seen.skipped_trials == [] and resumed.skipped_trials == []
    assert seen.counts == scan.counts and resumed.counts == scan.counts
    assert seen.best.id == scan.best.id == resumed.best.id
    pd.testing.assert_frame_equal(seen.results, scan.results)
    assert len(resumed.trials) == 16 and resumed.n_done == 16

    # under another metric, the view (computed in SQLite) and a resumed scan (Trial
    # objects) agree: NaN and infinite values do not score a trial
    by_acc = hw.load(store / "nan", metric="acc")
    as_acc = hw.Scan(_diverging, {"x": (0.0, 1.0)}, metric="acc", max_trials=16, seed=1,
                     store=store, name="nan")
    assert by_acc.counts == as_acc.counts
    assert by_acc.best is not None and by_acc.best.id == as_acc.best.id
    assert list(by_acc.results.status) == [t.status for t in as_acc.trials]


@pytest.mark.parametrize("column", ["params", "metrics"])
def test_a_damaged_best_row_is_neither_counted_nor_the_best_of_the_view(store, column):
    """Opened for viewing, the JSON check (params on one connection, the rest on the
    other) runs beside the counting: a damaged row found by either half is left out of
    both the counts and the best."""
    scan = hw.Scan(loss, SPACE, metric="loss", max_trials=30, name=f"b-{column}",
                   store=store)
    scan.start().wait(30)
    scan.close()
    best = scan.best.id
    con = sqlite3.connect(store / f"b-{column}" / "trials.sqlite")
    con.execute(f"UPDATE trials SET {column} = '{{broken' WHERE id = ?", (best,))
    con.commit()
    con.close()
    with pytest.warns(UserWarning, match=r"1 stored trial\(s\) could not be read"):
        seen = hw.load(store / f"b-{column}")
    assert seen.best.id != best and seen.n_done == 29
    assert seen.counts["finished"] + seen.counts["failed"] == 29
    assert best not in seen.results.index
