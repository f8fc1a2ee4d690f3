"""What an objective is given and how its return value is read."""

from __future__ import annotations

import hpo_widgets as hw

SPACE = {"x": (0.0, 1.0)}


def test_a_default_argument_binding_a_loop_variable_is_not_handed_the_trial(store):
    scans = []
    for k in (2, 3):
        scan = hw.Scan(lambda p, k=k: p["x"] * k, SPACE, max_trials=4, store=store,
                       name=f"k{k}")
        scan.start().wait(10)
        scans.append(scan)
    for k, scan in zip((2, 3), scans, strict=True):
        df = scan.results
        assert (df.status == "finished").all(), df.error.tolist()
        assert df["value"].tolist() == [x * k for x in df["x"]]


def test_a_second_parameter_named_trial_gets_the_handle_even_with_a_default(store):
    def objective(params, trial=None):
        trial.report(0, params["x"])
        return params["x"]

    scan = hw.Scan(objective, SPACE, max_trials=2, store=store)
    scan.start().wait(10)
    assert all(len(t.curve) == 1 for t in scan.trials)
