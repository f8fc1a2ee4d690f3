"""Pruners: the median rule and asynchronous successive halving."""

from __future__ import annotations

import threading

import pytest

from hpo_widgets.pruning import ASHA, PRUNER_NAMES, Median, Pruner, make_pruner
from hpo_widgets.trial import Trial


def ended(i: int, curve: list[tuple[float, float]], status: str = "finished") -> Trial:
    value = curve[-1][1] if curve and status != "failed" else None
    return Trial(id=i, params={}, status=status, value=value, curve=tuple(curve))


def losses(final: float, steps: int = 10) -> list[tuple[float, float]]:
    """A learning curve that decays towards ``final``."""
    return [(s, final + 1.0 / (s + 1)) for s in range(steps)]


def feed(p: Pruner, trial_id: int, curve: list[tuple[float, float]]) -> int | None:
    """Report a curve step by step; the step at which the pruner said stop, or None."""
    for step, value in curve:
        p.report(trial_id, step, value)
        if p.should_prune(trial_id):
            return int(step)
    return None


# ----------------------------------------------------------------------------------
def test_registry_gives_the_pruners_by_name():
    assert isinstance(make_pruner("median"), Median)
    assert isinstance(make_pruner(" ASHA "), ASHA)
    assert make_pruner(None) is None
    p = ASHA(eta=2)
    assert make_pruner(p) is p
    assert set(PRUNER_NAMES) == {"median", "asha"}
    with pytest.raises(ValueError, match="did you mean 'median'"):
        make_pruner("medain")


@pytest.mark.parametrize("bad", [
    lambda: Median(n_startup_trials=-1), lambda: Median(n_warmup_steps=-2),
    lambda: ASHA(eta=1), lambda: ASHA(min_resource=0), lambda: ASHA(min_resource=4,
                                                                     max_resource=2)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        bad()


# -- median ----------------------------------------------------------------------------
def test_median_prunes_a_trial_worse_than_the_median_and_spares_a_good_one():
    m = Median(n_startup_trials=3)
    m.bind(minimize=True)
    for i, final in enumerate([0.5, 0.4, 0.6, 0.45]):
        m.complete(ended(i, losses(final)))
    assert feed(m, 10, losses(2.0)) == 0
    assert feed(m, 11, losses(0.3)) is None


def test_median_waits_for_startup_trials_and_warmup_steps():
    m = Median(n_startup_trials=3, n_warmup_steps=4)
    m.bind(minimize=True)
    for i, final in enumerate([0.5, 0.4]):
        m.complete(ended(i, losses(final)))
    assert feed(m, 10, losses(2.0)) is None  # only two finished trials
    m.complete(ended(2, losses(0.6)))
    assert feed(m, 11, losses(2.0)) == 4  # not before the warm-up steps


def test_median_compares_best_so_far_in_the_direction_of_the_metric():
    m = Median(n_startup_trials=2)
    m.bind(minimize=False)  # an accuracy: higher is better
    for i, final in enumerate([0.8, 0.9, 0.85]):
        m.complete(ended(i, [(s, final * (s + 1) / 10) for s in range(10)]))
    assert feed(m, 10, [(s, 0.5 * (s + 1) / 10) for s in range(10)]) is not None
    m.report(11, 0, 0.3)
    m.report(11, 1, 0.01)  # a bad epoch after a good one: the best so far still counts
    assert not m.should_prune(11)


def test_median_only_counts_trials_that_reached_the_step():
    m = Median(n_startup_trials=1)
    m.bind(minimize=True)
    m.complete(ended(0, losses(0.1, steps=10)))
    m.complete(ended(1, [(0, 5.0), (1, 4.0)], status="pruned"))  # stopped at step 1
    m.complete(ended(2, [(0, 0.0)], status="failed"))
    # At step 5 only trial 0 counts (value 0.1 + 1/6).
    for s in range(5):
        m.report(9, s, 0.2)
    m.report(9, 5, 0.25)
    assert m.should_prune(9) is False  # best 0.2 < 0.267
    m.report(8, 5, 0.9)
    assert m.should_prune(8) is True


def test_median_on_resume_knows_the_stored_curves():
    m = Median(n_startup_trials=2)
    m.bind(minimize=True)
    stored = [ended(i, losses(f)) for i, f in enumerate([0.2, 0.3, 0.25])]
    for t in stored:
        m.complete(t)
    m.complete(stored[0])  # the scan may tell it twice: no double counting
    assert feed(m, 7, losses(3.0)) == 0
    m.bind(minimize=True)  # a new start forgets everything until told again
    assert feed(m, 8, losses(3.0)) is None


# -- ASHA ------------------------------------------------------------------------------
def test_asha_rungs_grow_by_eta():
    a = ASHA(min_resource=2, eta=3)
    assert [a.rung(k) for k in range(4)] == [2, 6, 18, 54]


def test_asha_keeps_the_top_fraction_at_each_rung():
    a = ASHA(min_resource=1, eta=2)
    a.bind(minimize=True)
    # Six sequential trials with final losses in this order; ranks decide at each rung.
    finals = [0.5, 0.7, 0.3, 0.9, 0.4, 0.2]
    stopped = {}
    for i, f in enumerate(finals):
        stopped[i] = feed(a, i, losses(f, steps=9))
        a.complete(ended(i, losses(f, steps=9), "pruned" if stopped[i] is not None
                         else "finished"))
    assert stopped[0] is None  # first everywhere
    assert stopped[1] == 1  # worse half at the first rung
    assert stopped[2] is None and stopped[5] is None  # new bests
    assert stopped[3] == 1


def test_asha_does_not_check_rungs_at_or_beyond_max_resource():
    a = ASHA(min_resource=1, eta=2, max_resource=4)
    a.bind(minimize=True)
    feed(a, 0, losses(0.1, steps=8))
    a.report(1, 1, 0.05)
    a.report(1, 2, 0.04)
    a.report(1, 7, 9.0)  # beyond max_resource: not judged
    assert not a.should_prune(1)


def test_asha_maximises_too_and_failed_trials_do_not_count():
    a = ASHA(min_resource=1, eta=2)
    a.bind(minimize=False)
    a.report(0, 1, 0.9)
    a.complete(ended(0, [(1, 0.9)], status="failed"))  # does not count
    a.report(1, 1, 0.5)
    assert not a.should_prune(1)  # alone at the rung now
    a.report(2, 1, 0.1)
    assert a.should_prune(2)


def test_asha_on_resume_replays_stored_curves():
    a = ASHA(min_resource=1, eta=3)
    a.bind(minimize=True)
    for i, f in enumerate([0.1, 0.2, 0.15]):
        a.complete(ended(i, losses(f)))
    assert feed(a, 9, losses(5.0)) == 1


def test_pruners_are_thread_safe():
    for pruner in (Median(n_startup_trials=2), ASHA(eta=2)):
        pruner.bind(minimize=True)
        for i, f in enumerate([0.2, 0.3, 0.4]):
            pruner.complete(ended(i, losses(f, steps=30)))
        errors: list[Exception] = []

        def run(tid: int, pruner: Pruner = pruner, errors: list = errors) -> None:
            try:
                feed(pruner, tid, losses(0.1 * tid, steps=30))
                pruner.complete(ended(tid, losses(0.1 * tid, steps=30)))
            except Exception as e:  # noqa: BLE001 - collected for the assertion
                errors.append(e)

        threads = [threading.Thread(target=run, args=(10 + k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors


# -- through the engine ------------------------------------------------------------------
@pytest.mark.parametrize("pruner", ["median", "asha"])
def test_a_scan_stores_pruned_trials_with_their_curves(store, pruner):
    import hpo_widgets as hw

    def objective(p, trial):
        loss = 0.0
        for epoch in range(9):
            loss = p["final"] + 1.0 / (epoch + 1)
            trial.report(epoch, loss)
            if trial.should_prune():
                break
        return loss

    space = hw.Space(final=hw.Float(0.0, 1.0))
    scan = hw.Scan(objective, space, strategy="sobol", max_trials=14, seed=0, pruner=pruner,
                   store=store, name=f"prune-{pruner}")
    scan.start()
    assert scan.wait(30)
    trials = scan.trials
    pruned = [t for t in trials if t.status == "pruned"]
    assert pruned and len(trials) == 14
    for t in pruned:
        assert 0 < len(t.curve) < 9 and t.value == t.curve[-1][1]
    best = min(trials, key=lambda t: t.params["final"])
    assert best.status == "finished"


def test_docstring_examples_run():
    import doctest

    import hpo_widgets.pruning

    result = doctest.testmod(hpo_widgets.pruning)
    assert result.attempted and not result.failed
