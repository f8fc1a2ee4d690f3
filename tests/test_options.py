"""One validated description of a scan's settings, and one answer to "min or max?"."""

from __future__ import annotations

import pytest

import hpo_widgets as hw


def quadratic(params):
    return (params["x"] - 0.3) ** 2


SPACE = {"x": (0.0, 1.0)}


@pytest.mark.parametrize("metric", ["val_dice_loss", "iou_loss", "f1_loss", "score_error",
                                    "val_loss", "rmse"])
def test_a_loss_named_after_a_score_is_minimised(store, metric):
    scan = hw.Scan(quadratic, SPACE, metric=metric, store=store)
    assert scan.mode == "min"
    from hpo_widgets import metrics

    assert metrics.higher_is_better(metric) is False


@pytest.mark.parametrize("metric", ["val_f1", "val_acc", "honest", "val_auc", "dice"])
def test_scores_are_maximised(store, metric):
    assert hw.Scan(quadratic, SPACE, metric=metric, store=store).mode == "max"


def test_the_magic_decides_as_the_scan_does():
    from hpo_widgets.magics import parse_options

    assert parse_options("--metric val_dice_loss").mode is None   # inferred, not refused
    from hpo_widgets.options import metric_direction

    assert metric_direction("val_dice_loss") == "min"


def test_the_dashboard_can_pick_every_named_strategy():
    from hpo_widgets.strategies import STRATEGY_NAMES

    assert "optuna" in STRATEGY_NAMES and "bayes" in STRATEGY_NAMES


@pytest.mark.parametrize("kwargs,error,match", [
    ({"trial_timeout": "abc"}, TypeError, "trial_timeout must be a number of seconds"),
    ({"trial_timeout": float("inf")}, ValueError, "trial_timeout must be a finite number"),
    ({"time_limit": float("inf")}, ValueError, "time_limit must be"),
    ({"store": None}, TypeError, "store must be a folder path"),
])
def test_bad_values_get_a_named_error_at_construction(store, kwargs, error, match):
    kwargs.setdefault("store", store)
    with pytest.raises(error, match=match):
        hw.Scan(quadratic, SPACE, **kwargs)


def test_a_store_that_is_a_file_is_refused_with_the_fix(tmp_path):
    f = tmp_path / "scans.txt"
    f.write_text("")
    with pytest.raises(ValueError, match="store=.*is a file.*folder"):
        hw.Scan(quadratic, SPACE, store=f)


def test_a_read_only_store_is_refused_before_anything_runs(tmp_path):
    from test_store_owners import read_only

    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder), pytest.raises(PermissionError, match="store=.*read-only.*hw.load"):
        hw.Scan(quadratic, SPACE, store=folder)


def test_dir_lists_the_lazy_names():
    assert {"Bayes", "KerasScan", "OptunaStrategy", "Sobol"} <= set(dir(hw))


def test_options_are_one_frozen_description_the_store_records(store):
    scan = hw.Scan(quadratic, SPACE, metric="loss", max_trials=7, trial_timeout=5,
                   store=store, name="o")
    opts = scan.options
    with pytest.raises(AttributeError):
        opts.max_trials = 3
    scan.start().wait(10)
    again = hw.load(store / "o")
    assert again.options.to_meta() == opts.to_meta()
