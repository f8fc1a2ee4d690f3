"""A Trial is an immutable record that stays small (hpo_widgets/trial.py), and a scan's
trials by id survive ids a scan would never give out (driver.TrialsById)."""
from __future__ import annotations

import copy
import pickle
import sqlite3

import pytest

import hpo_widgets as hw
from hpo_widgets.trial import Trial


def _scan(tmp_path, n=6, name="t"):
    space = hw.Space(lr=hw.Float(1e-3, 1e-1, log=True), act=hw.Choice(["relu", "elu"]))
    scan = hw.Scan(lambda p: {"loss": p["lr"], "acc": 1 - p["lr"]}, space, metric="loss",
                   max_trials=n, seed=0, store=tmp_path, name=name)
    scan.start().wait()
    return scan


def test_changing_a_trials_params_or_metrics_dict_changes_nothing_recorded(tmp_path):
    scan = _scan(tmp_path)
    best = scan.best
    lr = best.params["lr"]
    best.params["lr"] = 123.0            # a user's dict to play with, not the record
    best.metrics["loss"] = -1.0
    assert scan.best.params["lr"] == lr and best.params["lr"] == lr
    assert scan.best.metrics["loss"] == best.value
    assert scan.results.loc[best.id, "lr"] == lr
    assert best.param("lr") == lr and best.metric("acc") == pytest.approx(1 - lr)
    assert best.param("nope", "x") == "x" and best.metric("nope") is None
    with pytest.raises(AttributeError):
        best.status = "failed"


def test_a_trial_keeps_every_field_through_pickle_copy_and_replace():
    t = Trial(7, {"lr": 0.1, "act": "relu"}, "finished", {"loss": 0.3, "acc": 0.9}, 0.3,
              1.0, 2.5, None, None, ((0.0, 0.5), (1.0, 0.3)), "host:1:w", "bayes", None)
    for other in (pickle.loads(pickle.dumps(t)), copy.copy(t), copy.deepcopy(t)):
        assert other == t and other.params == t.params and other.curve == t.curve
    failed = t.replace(status="failed", error="boom")
    assert (failed.status, failed.error, failed.params, failed.metrics) == \
        ("failed", "boom", t.params, t.metrics)
    assert t.status == "finished" and t.error is None           # the original unchanged
    moved = t.replace(value=0.25)   # a new value does not rewrite the stored metrics
    assert moved.value == 0.25 and moved.metrics == {"loss": 0.3, "acc": 0.9}
    with pytest.raises(TypeError, match="no field"):
        t.replace(nmae="x")
    assert "params={'lr': 0.1, 'act': 'relu'}" in repr(t)


def test_a_single_metric_equal_to_the_value_reads_back_whole():
    t = Trial(0, {"x": 1}, "finished", {"loss": 0.5}, 0.5)
    assert t.metrics == {"loss": 0.5} and t.metric("loss") == 0.5
    assert t.replace(value=0.7).metrics == {"loss": 0.5}


def test_a_store_edited_by_hand_with_a_huge_id_still_opens(tmp_path):
    scan = _scan(tmp_path, n=4, name="far")
    scan.close()
    db = tmp_path / "far" / "trials.sqlite"
    con = sqlite3.connect(db)
    row = con.execute("SELECT * FROM trials WHERE id = 0").fetchone()
    con.execute(f"INSERT INTO trials VALUES ({','.join('?' * len(row))})",
                (10**12, *row[1:]))
    con.commit()
    con.close()
    seen = hw.load(tmp_path / "far")
    ids = [t.id for t in seen.trials]                # builds every Trial: no 8 TB list
    assert ids == [0, 1, 2, 3, 10**12]
    assert seen.trial(10**12).params == seen.trial(0).params
    again = hw.Scan(scan.objective, scan.space, metric="loss", max_trials=6, seed=0,
                    store=tmp_path, name="far")
    again.start().wait()                             # continues after the largest id
    assert sorted(t.id for t in again.trials)[-2:] == [10**12, 10**12 + 1]
