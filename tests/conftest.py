"""Shared fixtures for the unit and integration tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(tmp_path):
    """A fresh store folder per test."""
    return tmp_path / "scans"


@pytest.fixture
def prune_above_half():
    """A pruner that stops a trial once its last report is above 0.5 (deterministic, so a
    test can say which trials must end pruned wherever they run)."""
    from hpo_widgets.pruning import Pruner

    class PruneAboveHalf(Pruner):
        def __init__(self):
            super().__init__()
            self.last = {}

        def report(self, trial_id, step, value):
            self.last[trial_id] = value

        def should_prune(self, trial_id):
            return self.last.get(trial_id, 0) > 0.5

    return PruneAboveHalf()
