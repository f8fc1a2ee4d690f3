"""bench/tuning.py: runs split over processes join into the table one run would print.

The benchmark's peers take seconds a proposal, so its tables are assembled from runs on
different seeds (``--first-seed``, ``--json``, ``--reuse``) and repeated evaluations are
read from a cache (``--cache``). That is only honest if the objectives and the methods
are deterministic given the seed, which these tests check on the cheapest task.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

BENCH = Path(__file__).resolve().parents[1] / "bench" / "tuning.py"


@pytest.fixture(scope="module")
def tuning():
    spec = importlib.util.spec_from_file_location("bench_tuning", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_tuning"] = module
    spec.loader.exec_module(module)
    return module


def _table(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("| bayes")]


def test_a_joined_run_prints_the_table_of_one_run(tuning, tmp_path, capsys):
    common = ["--tasks", "svm", "--budget", "12", "--methods", "bayes",
              "--no-proposal-time"]
    tuning.main([*common, "--seeds", "2"])
    whole = _table(capsys.readouterr().out)

    cache = str(tmp_path / "cache.json")
    tuning.main([*common, "--seeds", "1", "--json", str(tmp_path / "a.json"),
                 "--cache", cache])
    tuning.main([*common, "--seeds", "1", "--first-seed", "1",
                 "--json", str(tmp_path / "b.json"), "--cache", cache])
    capsys.readouterr()
    tuning.main([*common, "--seeds", "2", "--reuse",
                 f"{tmp_path / 'a.json'},{tmp_path / 'b.json'}"])
    joined = _table(capsys.readouterr().out)
    # same scores; the reused run has no ask times of its own
    assert [row.rsplit("|", 2)[0] for row in joined] == [row.rsplit("|", 2)[0] for row in whole]
    assert whole and "(reused)" in joined[0]

    # every point of the split runs is in the cache, with the value the run saw
    stored = json.loads(Path(cache).read_text())["svm"]
    cells = {**json.loads((tmp_path / "a.json").read_text()),
             **json.loads((tmp_path / "b.json").read_text())}
    assert len(cells) == 4  # bayes and random (the score's zero), seeds 0 and 1
    for cell in cells.values():
        for point, value in zip(cell["points"], cell["values"], strict=True):
            assert stored[json.dumps(point, sort_keys=True, default=repr)] == value


def test_a_cached_point_is_not_fitted_again(tuning, tmp_path):
    cache = tmp_path / "cache.json"
    task = tuning.TASKS["svm"]()
    point = {"C": 1.0, "gamma": 0.01}
    value = task(point)
    cache.write_text(json.dumps({"svm": task.cache}))

    again = tuning.TASKS["svm"]()
    again.cache = json.loads(cache.read_text())["svm"]
    assert again(point) == value and again.fits == 0


def test_the_forest_task_is_a_cheap_nine_dimensional_space_whose_best_leaf_is_its_bound(tuning):
    # The suite's >= 8-dimensional space with integers whose optimum sits on a bound:
    # with everything else at a good setting, the smallest leaf (1, the lower bound)
    # scores better than any larger one, and the most trees (the upper bound) better
    # than fewer.
    task = tuning.TASKS["forest"]()
    assert len(task.params) >= 8
    ints = {p.name: (p.low, p.high) for p in task.params if p.integer}
    assert ints["min_samples_leaf"] == (1, 32) and ints["n_estimators"] == (5, 40)
    good = {"n_estimators": 40, "max_depth": 24, "min_samples_split": 2,
            "min_samples_leaf": 1, "max_features": 0.2, "min_impurity_decrease": 1e-6,
            "criterion": "entropy", "class_weight": None, "bootstrap": False}
    best = task(good)
    assert task.fit_seconds < 5.0  # one 3-fold evaluation: well under a second unloaded
    assert all(task({**good, "min_samples_leaf": leaf}) > best for leaf in (2, 3, 5))
    assert task({**good, "n_estimators": 20}) > best
    # and the bound-count table names those bounds
    assert tuning.bound_integers(task, {**good, "max_depth": 12}) == [
        ("n_estimators", 40), ("min_samples_split", 2), ("min_samples_leaf", 1)]
