"""Strategies: one conformance test case that every strategy inherits, then tests of
what is particular to each.

:class:`StrategyConformance` states what the scan relies on (see the guarantees in
``hpo_widgets/strategies/base.py``); a new strategy gets the whole suite by subclassing
it and defining ``make_strategy``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import hpo_widgets as hw
from hpo_widgets.strategies import Grid, Random, Strategy, make_strategy
from hpo_widgets.strategies.base import point_key
from hpo_widgets.strategies.bayes import Bayes, _Encoder, _reference
from hpo_widgets.strategies.sobol import Sobol, SobolSequence
from hpo_widgets.trial import Trial


# ----------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------
def mixed_space() -> hw.Space:
    return hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), units=hw.Int(16, 512, log=True),
                    dropout=hw.Float(0.0, 0.5), act=hw.Choice(["relu", "elu", "gelu"]),
                    bn=hw.Bool(), epochs=hw.Fixed(20))


def discrete_space() -> hw.Space:
    return hw.Space(lr=hw.Float(1e-4, 1e-1, log=True, num=4), units=hw.Int(16, 128, step=16),
                    dropout=hw.Float(0.0, 0.5, step=0.25), act=hw.Choice(["relu", "elu", "gelu"]),
                    bn=hw.Bool(), epochs=hw.Fixed(20))


def loss(p: dict[str, Any]) -> float:
    """A smooth toy loss of the spaces above (best: lr 1e-2, units 64, no dropout, gelu);
    on other spaces, a fixed pseudo-random value per point."""
    if "lr" not in p:
        return zlib.crc32(point_key(p).encode()) / 2**32
    return ((math.log10(p["lr"]) + 2) ** 2 + (math.log2(p["units"]) - 6) ** 2 / 4
            + p["dropout"] + 0.5 * (p["act"] != "gelu") + 0.1 * bool(p["bn"]))


def trial(i: int, params: dict[str, Any], value: float | None, status: str | None = None,
          curve: tuple = ()) -> Trial:
    status = status or ("finished" if value is not None else "failed")
    return Trial(id=i, params=params, status=status, value=value, curve=curve,
                 error=None if value is not None else "boom")


def drive(strategy: Strategy, space: hw.Space, n: int, fn: Callable[[dict], float | None] = loss,
          history: list[Trial] | None = None) -> list[Trial]:
    """Ask and tell ``n`` times (or until the strategy has nothing left)."""
    history = [] if history is None else history
    for _ in range(n):
        params = strategy.ask(space, history, [])
        if params is None:
            break
        t = trial(len(history), params, fn(params))
        history.append(t)
        strategy.tell(t)
    return history


def random_history(space: hw.Space, n: int, seed: int = 0,
                   fn: Callable[[dict], float | None] = loss) -> list[Trial]:
    rng = np.random.default_rng(seed)
    return [trial(i, p, fn(p)) for i, p in enumerate(space.sample(rng) for _ in range(n))]


def assert_in_space(space: hw.Space, params: dict[str, Any]) -> None:
    space.validate(params)  # raises, naming the parameter, when outside
    assert set(params) == set(space)
    for name, p in space.items():
        if isinstance(p, hw.Int):
            assert type(params[name]) is int, (name, params[name])
        if isinstance(p, hw.Float):
            assert type(params[name]) is float, (name, params[name])


# ----------------------------------------------------------------------------------
# the conformance test case
# ----------------------------------------------------------------------------------
class StrategyConformance:
    """What every strategy guarantees. Subclasses define :meth:`make_strategy`."""

    #: the strategy searches continuous spaces (grid search does not)
    continuous = True
    #: proposals depend only on (seed, space, history, pending): a fresh strategy given a
    #: stored history proposes exactly what the scan that ran straight through would have
    stateless = True
    #: the strategy learns: checked to head for the optimum in both directions
    learns = False
    n_learn = 16

    def make_strategy(self) -> Strategy:  # pragma: no cover - abstract
        raise NotImplementedError

    def bound(self, seed: int | None = 0, minimize: bool = True) -> Strategy:
        s = self.make_strategy()
        s.bind(seed=seed, minimize=minimize)
        return s

    def space(self) -> hw.Space:
        return mixed_space() if self.continuous else discrete_space()

    # -- the space ------------------------------------------------------------------
    def test_proposals_are_points_of_the_space(self):
        space = self.space()
        history = drive(self.bound(), space, 14)
        assert len(history) == 14
        for t in history:
            assert_in_space(space, t.params)

    def test_respects_a_space_narrowed_mid_scan(self):
        space = self.space()
        s = self.bound()
        history = drive(s, space, 9)
        narrow = space.narrow(lr=(space["lr"].low * 10, space["lr"].high / 10),
                              act=["relu", "gelu"], bn=True)
        before = len(history)
        drive(s, narrow, 5, history=history)
        assert len(history) == before + 5
        for t in history[before:]:
            assert_in_space(narrow, t.params)
            assert t.params["bn"] is True and t.params["act"] in ("relu", "gelu")

    def test_a_space_with_nothing_to_tune(self):
        space = hw.Space(a=hw.Fixed(1), b=hw.Fixed("x"))
        params = self.bound().ask(space, [], [])
        assert params == {"a": 1, "b": "x"}

    # -- reproducibility ----------------------------------------------------------------
    def test_same_seed_and_history_give_the_same_point(self):
        space = self.space()
        history = random_history(space, 12)
        a = self.bound(seed=7).ask(space, history, [])
        b = self.bound(seed=7).ask(space, history, [])
        assert a == b
        assert_in_space(space, a)

    def test_a_resumed_scan_proposes_what_a_straight_run_would(self):
        if not self.stateless:
            pytest.skip("the strategy keeps state its history does not hold")
        space = self.space()
        s = self.bound(seed=3)
        history = drive(s, space, 9)
        straight = s.ask(space, history, [])
        resumed = self.bound(seed=3).ask(space, list(history), [])
        assert resumed == straight

    def test_unseeded_strategies_still_work(self):
        space = self.space()
        history = drive(self.bound(seed=None), space, 4)
        for t in history:
            assert_in_space(space, t.params)

    # -- failures, duplicates, parallel trials --------------------------------------------
    def test_copes_with_failed_and_pruned_trials(self):
        space = self.space()
        rng = np.random.default_rng(1)
        history = []
        for i in range(12):
            p = space.sample(rng)
            if i % 3 == 0:
                history.append(trial(i, p, None))
            elif i % 3 == 1:
                history.append(trial(i, p, loss(p) + 1, status="pruned",
                                     curve=((0, loss(p) + 2), (1, loss(p) + 1))))
            else:
                history.append(trial(i, p, loss(p)))
        history.append(trial(12, space.sample(rng), float("nan"), status="failed"))
        s = self.bound()
        assert_in_space(space, s.ask(space, history, []))
        every_one_failed = [trial(i, t.params, None) for i, t in enumerate(history)]
        assert_in_space(space, self.bound().ask(space, every_one_failed, []))

    def test_copes_with_duplicates_in_the_history(self):
        space = self.space()
        p = space.sample(seed=0)
        history = [trial(i, dict(p), 1.0 + 0.1 * (i % 2)) for i in range(6)]
        history += random_history(space, 4, seed=5)
        assert_in_space(space, self.bound().ask(space, history, []))

    def test_running_points_are_not_proposed_again_in_a_discrete_space(self):
        space = hw.Space(a=[1, 2, 3], b=["x", "y"], c=hw.Int(0, 1), d=hw.Fixed(0))  # 12 points
        points = list(space.grid())
        for seed in range(3):
            s = self.bound(seed=seed)
            history = [trial(i, points[i], float(i)) for i in range(4)]
            pending = points[4:9]
            params = s.ask(space, history, pending)
            assert params is not None
            assert_in_space(space, params)
            assert point_key(params) not in {point_key(p) for p in pending}

    def test_a_batch_of_parallel_asks_gives_distinct_points(self):
        space = self.space()
        s = self.bound()
        history = random_history(space, 10)
        pending: list[dict] = []
        for _ in range(3):
            params = s.ask(space, history, pending)
            assert_in_space(space, params)
            assert point_key(params) not in {point_key(p) for p in pending}
            pending.append(params)

    def test_an_exhausted_discrete_space_ends_or_stays_inside(self):
        space = hw.Space(a=[1, 2], b=hw.Bool())  # 4 points
        history = drive(self.bound(), space, 8)
        for t in history:
            assert_in_space(space, t.params)
        if len(history) < 8:  # the strategy said "nothing left": everything was tried
            assert {point_key(t.params) for t in history} == {point_key(p)
                                                              for p in space.grid()}

    # -- direction ------------------------------------------------------------------------
    @pytest.mark.parametrize("minimize", [True, False])
    def test_heads_for_the_optimum_in_either_direction(self, minimize):
        if not self.learns:
            pytest.skip("the strategy does not learn from values")
        space = hw.Space(x=hw.Float(-2.0, 2.0), y=hw.Float(-2.0, 2.0))
        sign = 1.0 if minimize else -1.0
        history = drive(self.bound(seed=1, minimize=minimize), space, self.n_learn,
                        fn=lambda p: sign * ((p["x"] - 0.7) ** 2 + (p["y"] + 0.4) ** 2))
        best = min(history, key=lambda t: sign * t.value)
        assert abs(best.params["x"] - 0.7) < 0.35 and abs(best.params["y"] + 0.4) < 0.35


class TestGrid(StrategyConformance):
    continuous = False

    def make_strategy(self) -> Strategy:
        return Grid()

    def test_exhaustion_returns_none(self):
        space = hw.Space(a=[1, 2], b=hw.Bool())
        history = drive(self.bound(), space, 10)
        assert len(history) == 4
        assert self.bound().ask(space, history, []) is None

    def test_a_batch_of_parallel_asks_gives_distinct_points(self):
        space = discrete_space()
        s = self.bound()
        pending: list[dict] = []
        for _ in range(3):
            params = s.ask(space, [], pending)
            assert point_key(params) not in {point_key(p) for p in pending}
            pending.append(params)


class TestRandom(StrategyConformance):
    def make_strategy(self) -> Strategy:
        return Random()


class TestSobol(StrategyConformance):
    def make_strategy(self) -> Strategy:
        return Sobol()

    def test_points_are_evenly_spread(self):
        s = self.bound(seed=4)
        space = hw.Space(x=hw.Float(0, 1), y=hw.Float(0, 1))
        history = drive(s, space, 16)
        xy = np.array([[t.params["x"], t.params["y"]] for t in history])
        # Scrambled Sobol: each of the 4 x 4 cells holds exactly one of the first 16 points.
        cells = {(int(x * 4), int(y * 4)) for x, y in xy}
        assert len(cells) == 16

    def test_a_discrete_space_is_covered_then_ends(self):
        space = hw.Space(a=[1, 2, 3], b=hw.Bool())
        history = drive(self.bound(), space, 20)
        assert len(history) == 6
        assert len({point_key(t.params) for t in history}) == 6

    def test_sequence_points_do_not_depend_on_how_far_it_was_drawn(self):
        a = SobolSequence(3, seed=1)
        first = a.point(3).copy()
        a.points(100)
        assert np.array_equal(a.point(3), first)
        assert np.array_equal(SobolSequence(3, seed=1).points(5), a.points(5))


class TestBayes(StrategyConformance):
    learns = True
    stateless = False  # hyperparameter fits warm-start from the previous ask

    def make_strategy(self) -> Strategy:
        return Bayes()

    def test_settings_are_checked(self):
        with pytest.raises(ValueError, match="acquisition must be 'ei' or 'ucb'"):
            Bayes(acquisition="pi")
        with pytest.raises(ValueError, match="n_initial"):
            Bayes(n_initial=0)
        assert make_strategy("bayes").to_dict()["acquisition"] == "ei"

    def test_starts_with_the_sobol_design(self):
        space = mixed_space()
        bo, sob = self.bound(seed=2), Sobol()
        sob.bind(seed=2, minimize=True)
        history = drive(bo, space, 5)
        assert [t.params for t in history] == [t.params for t in drive(sob, space, 5)]

    def test_ucb_and_ei_both_find_the_minimum(self):
        space = hw.Space(x=hw.Float(-2.0, 2.0))
        for acq in ("ei", "ucb"):
            bo = Bayes(acquisition=acq)
            bo.bind(seed=0, minimize=True)
            history = drive(bo, space, 12, fn=lambda p: (p["x"] - 1.0) ** 2)
            assert min(t.value for t in history) < 1e-3, acq

    def test_failed_points_do_not_attract_the_next_point(self):
        # The values fall towards x = 0, but everything below 0.15 failed.
        space = hw.Space(x=hw.Float(0.0, 1.0))
        xs = [0.2, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0]
        history = [trial(i, {"x": x}, x) for i, x in enumerate(xs)]
        failed = [0.0, 0.04, 0.08, 0.12]
        history += [trial(len(history) + i, {"x": x}, None) for i, x in enumerate(failed)]
        params = self.bound().ask(space, history, [])
        assert min(abs(params["x"] - x) for x in failed) > 0.02

    def test_a_parallel_batch_spreads_out(self):
        space = hw.Space(x=hw.Float(-2.0, 2.0), y=hw.Float(-2.0, 2.0))
        history = random_history(space, 10, fn=lambda p: p["x"] ** 2 + p["y"] ** 2)
        s = self.bound()
        first = s.ask(space, history, [])
        second = s.ask(space, history, [first])
        gap = math.hypot(first["x"] - second["x"], first["y"] - second["y"])
        assert gap > 0.05

    def test_points_outside_a_narrowed_space_still_inform_the_model(self):
        space = hw.Space(x=hw.Float(0.0, 10.0), c=["a", "b", "c"])
        history = random_history(space, 10, fn=lambda p: (p["x"] - 3) ** 2)
        narrow = space.narrow(x=(2.0, 4.0), c=["a", "b"])
        s = self.bound()
        params = s.ask(narrow, history, [])
        assert_in_space(narrow, params)
        assert s.last_fit is not None and s.last_fit.X.shape[0] == len(history)

    def test_integer_and_choice_parameters_are_learned(self):
        space = hw.Space(n=hw.Int(0, 20), c=["a", "b", "c"], flag=hw.Bool())
        scores = {"a": 1.0, "b": 0.0, "c": 2.0}
        history = drive(self.bound(seed=0), space, 22,
                        fn=lambda p: scores[p["c"]] + (p["n"] - 7) ** 2 / 10 + p["flag"])
        best = min(history, key=lambda t: t.value)
        assert best.params["c"] == "b" and abs(best.params["n"] - 7) <= 1
        assert best.params["flag"] is False

    def test_a_small_discrete_space_is_searched_without_repeats_then_ends(self):
        space = hw.Space(a=[1, 2, 3], b=hw.Int(0, 2))
        history = drive(self.bound(), space, 15, fn=lambda p: (p["a"] - 2) ** 2 + p["b"])
        assert len(history) == 9
        assert len({point_key(t.params) for t in history}) == 9

    def test_the_vectorised_encoding_matches_space_decode(self):
        space = hw.Space(a=hw.Float(1e-4, 1.0, log=True), b=hw.Int(3, 900, log=True),
                         c=hw.Int(0, 10), d=hw.Int(0, 100, step=7), e=hw.Float(0, 1, num=5),
                         f=hw.Float(1e-3, 1.0, log=True, num=4), g=["x", 2, None],
                         h=hw.Bool(), i=hw.Fixed(3.5), j=hw.Float(-1, 1, step=0.3))
        history = random_history(space, 5, fn=lambda p: 0.0)
        enc = _Encoder(space, _reference(space, history))
        U = np.random.default_rng(0).random((300, space.ndim))
        U[:5] = np.array([0.0, 1.0, 0.5, 1 / 3, 2 / 3])[:, None]  # edges and cell borders
        fast, _ = enc.cube(U)
        slow = enc.params([space.decode(u) for u in U])
        np.testing.assert_allclose(fast, slow, atol=1e-12)

    def test_maximising_flips_the_direction(self):
        space = hw.Space(x=hw.Float(0.0, 1.0))
        history = [trial(i, {"x": x}, x) for i, x in enumerate([0.1, 0.3, 0.5, 0.7, 0.9])]
        up = self.bound(minimize=False).ask(space, history, [])
        down = self.bound(minimize=True).ask(space, history, [])
        assert up["x"] > 0.8 and down["x"] < 0.2


    def test_an_integer_whose_best_value_is_its_lower_bound_gets_proposed(self):
        # As batch_size in an MLP: all that was tried is 100..250, the loss falls
        # towards small batches, and the best value is the bound itself.
        space = hw.Space(batch_size=hw.Int(10, 250), units=hw.Int(10, 100),
                         lr=hw.Float(1e-5, 1e-1, log=True), alpha=hw.Float(1e-5, 10, log=True),
                         momentum=hw.Float(0.5, 0.99), frac=hw.Float(0.1, 0.9))

        def fn(p: dict[str, Any]) -> float:
            return (p["batch_size"] / 250 + (math.log10(p["lr"]) + 3) ** 2 / 4
                    + (p["momentum"] - 0.9) ** 2 + 0.001 * p["units"])

        for seed in range(3):
            rng = np.random.default_rng(seed)
            history = []
            for i in range(20):
                p = space.sample(rng)
                p["batch_size"] = int(rng.integers(100, 251))
                history.append(trial(i, p, fn(p)))
            drive(self.bound(seed=seed), space, 5, fn=fn, history=history)
            assert 10 in [t.params["batch_size"] for t in history[20:]], seed

    def test_the_relaxed_integer_gradient_is_the_gradient(self):
        # The acquisition is refined along integers as real numbers: its derivative
        # must match finite differences (else L-BFGS-B walks the wrong way).
        space = hw.Space(n=hw.Int(3, 900, log=True), m=hw.Int(0, 40), x=hw.Float(0.0, 1.0))
        history = random_history(space, 5, fn=lambda p: 0.0)
        enc = _Encoder(space, _reference(space, history))
        assert sorted(enc.relaxable) == [0, 1, 2]
        U = np.random.default_rng(3).uniform(0.05, 0.95, (20, 3))
        F, dF = enc.cube(U, grad=True, relax=True)
        cols = enc.column_of_feature()
        for f in range(enc.width):
            V = U.copy()
            V[:, cols[f]] += 1e-6
            G, _ = enc.cube(V, relax=True)
            np.testing.assert_allclose((G[:, f] - F[:, f]) / 1e-6, dF[:, f], rtol=1e-4)
        # without relax the same points are rounded as Space.decode rounds them
        rounded, _ = enc.cube(U)
        np.testing.assert_allclose(rounded, enc.params([space.decode(u) for u in U]))

    # -- what the model believes (the dashboard's belief band and importance) ---------
    def test_predict_speaks_in_the_objectives_units_and_knows_where_it_has_looked(self):
        # A loss around 100 with a dip at x = 3; the model saw x in [0, 5] only.
        space = hw.Space(x=hw.Float(0.0, 10.0), noise=hw.Float(0.0, 1.0))
        rng = np.random.default_rng(1)
        history = [trial(i, {"x": float(x), "noise": float(rng.random())},
                         100.0 + (x - 3.0) ** 2) for i, x in enumerate(np.linspace(0, 5, 14))]
        s = self.bound()
        points = [{"x": 3.0, "noise": 0.5}, {"x": 0.5, "noise": 0.5}, {"x": 9.5, "noise": 0.5}]
        mean, std = s.predict(space, history, points)
        assert mean.shape == std.shape == (3,)
        assert abs(mean[0] - 100.0) < 0.5 and abs(mean[1] - 106.25) < 1.0
        assert std[2] > 5 * max(std[0], std[1])  # unexplored: unsure
        # maximising: the same numbers come back in the user's direction
        up = self.bound(minimize=False)
        neg = [trial(t.id, t.params, -t.value) for t in history]
        mean_up, _ = up.predict(space, neg, points)
        np.testing.assert_allclose(mean_up[:2], -mean[:2], rtol=1e-3)

    def test_predict_and_importance_before_a_model_exists(self):
        space = hw.Space(x=hw.Float(0.0, 1.0))
        s = self.bound()
        mean, std = s.predict(space, [trial(0, {"x": 0.5}, 1.0)], [{"x": 0.1}])
        assert np.isnan(mean).all() and np.isnan(std).all()
        assert s.importance(space, []) == {}

    def test_importance_ranks_the_parameter_that_matters_first(self):
        space = hw.Space(lr=hw.Float(1e-5, 1e-1, log=True), units=hw.Int(8, 256),
                         act=["relu", "tanh", "elu"], junk=hw.Float(0.0, 1.0), epochs=hw.Fixed(3))
        history = random_history(space, 30, fn=lambda p: (math.log10(p["lr"]) + 3) ** 2
                                 + 0.3 * (p["act"] != "elu"))
        imp = self.bound().importance(space, history)
        assert set(imp) == {"lr", "units", "act", "junk"}
        assert abs(sum(imp.values()) - 1.0) < 1e-9
        assert imp["lr"] == max(imp.values())
        assert imp["act"] > imp["junk"] and imp["act"] > imp["units"]

    def test_reading_the_model_does_not_change_the_next_proposal(self):
        space = mixed_space()
        history = random_history(space, 12)
        plain = self.bound().ask(space, history, [])
        s = self.bound()
        s.predict(space, history[:-3], [history[0].params])  # another data set in between
        s.importance(space, history)
        assert s.ask(space, history, []) == plain


class TestOptunaStrategy(StrategyConformance):
    learns = True
    stateless = False  # the sampler's generator advances with every ask
    n_learn = 24

    def make_strategy(self) -> Strategy:
        optuna = pytest.importorskip("optuna")
        return hw.OptunaStrategy(optuna.samplers.TPESampler(seed=0))

    def test_failed_pruned_and_resumed_trials_reach_the_study(self):
        space = mixed_space()
        s = self.bound()
        history = drive(s, space, 3)
        p = s.ask(space, history, [])
        history.append(trial(3, p, None))
        q = s.ask(space, history, [])
        history.append(trial(4, q, 2.0, status="pruned", curve=((0, 3.0), (1, 2.0))))
        s.ask(space, history, [])
        states = [t.state.name for t in s._study.trials]
        assert states[:5] == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL", "PRUNED"]
        resumed = self.bound()
        resumed.ask(space.narrow(lr=(1e-3, 1e-2)), history, [])
        assert len(resumed._study.trials) == len(history) + 1

    def test_default_sampler_is_seeded_tpe(self):
        pytest.importorskip("optuna")
        a, b = hw.OptunaStrategy(), hw.OptunaStrategy()
        for s in (a, b):
            s.bind(seed=5, minimize=True)
        space = mixed_space()
        assert a.ask(space, [], []) == b.ask(space, [], [])
        assert a.to_dict() == {"name": "optuna", "sampler": "TPESampler"}

    def test_by_name_in_a_scan(self, store):
        pytest.importorskip("optuna")
        assert isinstance(make_strategy("optuna"), hw.OptunaStrategy)
        assert isinstance(make_strategy(" TPE "), hw.OptunaStrategy)
        scan = hw.Scan(lambda p: (p["x"] - 0.3) ** 2, {"x": (0.0, 1.0)}, strategy="optuna",
                       max_trials=12, seed=1, store=store)
        scan.start()
        assert scan.wait(60)
        assert scan.counts["finished"] == 12
        assert scan.strategy.to_dict() == {"name": "optuna", "sampler": "TPESampler"}

    def test_a_sampler_class_gets_the_scan_seed(self):
        optuna = pytest.importorskip("optuna")
        points = []
        for _ in range(2):
            s = hw.OptunaStrategy(optuna.samplers.RandomSampler)
            s.bind(seed=11, minimize=False)
            points.append(s.ask(mixed_space(), [], []))
        assert points[0] == points[1]
        assert s.to_dict()["sampler"] == "RandomSampler"


# ----------------------------------------------------------------------------------
# through the engine
# ----------------------------------------------------------------------------------
def test_bayes_drives_a_parallel_scan_with_failures_and_a_narrowed_space(store):
    space = hw.Space(x=hw.Float(-2.0, 2.0), n=hw.Int(1, 8), act=["relu", "gelu"])

    def objective(p):
        if p["x"] < -1.5:
            raise RuntimeError("diverged")
        return (p["x"] - 0.5) ** 2 + (p["n"] - 3) ** 2 / 10 + (p["act"] == "relu")

    scan = hw.Scan(objective, space, strategy=hw.Bayes(), max_trials=16, n_jobs=2, seed=0,
                   store=store, name="bo")
    scan.start()
    assert scan.wait(60)
    narrow = space.narrow(x=(0.0, 1.0), act=["gelu"])
    scan.space = narrow
    scan.max_trials = 22
    scan.start()
    assert scan.wait(60)
    trials = scan.trials
    assert len(trials) == 22 and {t.status for t in trials} <= {"finished", "failed"}
    for t in trials:
        assert_in_space(space, t.params)
    for t in trials[16:]:
        assert_in_space(narrow, t.params)
    assert min(t.value for t in trials if t.value is not None) < 0.2


@pytest.mark.parametrize("name", ["sobol", "bayes", "optuna"])
def test_docstring_examples_run(name):
    import doctest
    import importlib

    if name == "optuna":
        pytest.importorskip("optuna")
    module = importlib.import_module(f"hpo_widgets.strategies.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed


def test_reading_the_bayes_model_while_it_proposes_leaves_blas_threads_as_they_were():
    """The dashboard's predict() runs while the driver's ask() does: overlapping
    one-thread limits must not leave the process on one BLAS thread, and the shared fit
    cache must not break a proposal."""
    import threading

    from threadpoolctl import threadpool_info

    def blas():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    space = hw.Space(x=hw.Float(0.0, 1.0), n=hw.Int(1, 50))
    strategy = hw.Bayes()
    strategy.bind(seed=0, minimize=True)
    rng = np.random.default_rng(0)
    history = [Trial(id=i, params={"x": float(rng.random()), "n": int(rng.integers(1, 51))},
                     status="finished", value=float(rng.random()), finished=float(i))
               for i in range(30)]
    strategy.predict(space, history[:10], [history[0].params])   # every BLAS loaded
    before = blas()
    errors: list[BaseException] = []

    def read():
        try:
            for k in range(20):
                strategy.predict(space, history[: 10 + k], [history[0].params])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    reader = threading.Thread(target=read)
    reader.start()
    for k in range(10):
        assert strategy.ask(space, history[: 12 + k], []) is not None
    reader.join()
    assert not errors, errors
    assert blas() == before
    # the interleaving that used to stick: A limits, B limits, A restores, B restores
    from hpo_widgets.strategies.bayes import _one_blas_thread

    a, b = _one_blas_thread(), _one_blas_thread()
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)
    assert min(blas()) == 1            # B still computes: still limited
    b.__exit__(None, None, None)
    assert blas() == before


@pytest.mark.slow
def test_a_stalled_bayes_scan_explores_instead_of_copying_its_best_point(store):
    """An RBF SVC on noisy digits with a decision threshold, scored by validation F1 (a
    step-like objective: near points tie, as bench/honest.py's digits task): once the
    search stops improving it must not spend its trials on near-copies of its best
    point. On main at c9dcb82, 38% of 80 trials (22-51% per seed) came within 2% of an
    earlier one, and seed 2 stayed at F1 0.842 on a flat top away from the better
    region."""
    from sklearn.datasets import load_digits
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    x, labels = load_digits(return_X_y=True)
    space = {"C": (1e-2, 1e3, "log"), "gamma": (1e-4, 1.0, "log"),
             "class_weight": ["none", "balanced"], "threshold": (-1.0, 1.0)}
    shares, bests = [], []
    for seed in range(6):
        noisy = x / 16.0 + np.random.default_rng(seed).normal(0.0, 0.2, x.shape)
        y = (labels == 8).astype(int)
        x_tr, x_rest, y_tr, y_rest = train_test_split(noisy, y, test_size=0.5, stratify=y,
                                                      random_state=seed)
        x_val, _, y_val, _ = train_test_split(x_rest, y_rest, test_size=0.5,
                                              stratify=y_rest, random_state=seed)

        def val_f1(p, x_tr=x_tr, y_tr=y_tr, x_val=x_val, y_val=y_val):
            weight = None if p["class_weight"] == "none" else "balanced"
            model = SVC(C=p["C"], gamma=p["gamma"], class_weight=weight).fit(x_tr, y_tr)
            return f1_score(y_val, model.decision_function(x_val) > p["threshold"],
                            zero_division=0)

        scan = hw.Scan(val_f1, space, mode="max", strategy=hw.Bayes(), max_trials=80,
                       seed=seed, store=store / f"svc{seed}")
        scan.start().wait()
        df = scan.results
        u = np.column_stack([np.log10(df["C"]) / 5, np.log10(df["gamma"]) / 4,
                             df["class_weight"] == "balanced", (df["threshold"] + 1) / 2])
        near = [np.abs(u[:i] - u[i]).max(axis=1).min() < 0.02 for i in range(1, len(u))]
        shares.append(float(np.mean(near)))
        bests.append(float(df["value"].max()))
    # measured here: shares 0.13 0.13 0.14 0.29 0.19 0.13, best F1 at least 0.875
    assert np.mean(shares) < 0.28, shares
    assert min(bests) > 0.86, bests


def test_one_diverged_trial_does_not_turn_bayes_into_a_random_search(store):
    """A learning-rate search where training blows up above lr ~0.2 (the loss comes
    back huge but finite, as a Keras loss does before it turns NaN). On main at 72d9925
    one such trial squeezed every other loss into a sliver the model read as noise, and
    the proposals after it were as good as random: best loss after 40 trials 0.2-0.5 on
    6 of 8 seeds, against ~2e-5 once the value is capped (see ``_far_out``)."""
    space = {"lr": (1e-5, 1.0, "log"), "width": hw.Int(8, 256), "dropout": (0.0, 0.8),
             "l2": (-6.0, -1.0)}

    def loss(p):
        lr = math.log10(p["lr"])
        if lr > -0.7:
            return 1e7 * (1.0 + lr + 0.7)  # diverged
        return ((lr + 2.5) ** 2 + 4 * (p["width"] / 256 - 0.6) ** 2
                + (p["dropout"] - 0.2) ** 2 + (p["l2"] + 4) ** 2 / 8)

    bests, diverged = [], 0
    for seed in (1, 3, 5, 6):  # seeds whose search meets a diverged trial early
        bo = hw.Bayes()
        scan = hw.Scan(loss, space, strategy=bo, max_trials=40, seed=seed,
                       store=store / f"lr{seed}")
        scan.start().wait()
        values = scan.results["value"].to_numpy()
        diverged += int((values[:20] > 1e6).any())
        bests.append(float(values.min()))
        # What the dashboard's belief band shows: near the truth at a good point never
        # tried, and finite where training diverges (on 72d9925, seed 1: -1045 +- 11247
        # for a loss of 0.25, and 2.9e106 for 1.7e7).
        good = {"lr": 0.01, "width": 150, "dropout": 0.2, "l2": -4.0}
        bad = {"lr": 0.9, "width": 100, "dropout": 0.1, "l2": -3.0}
        mean, sd = bo.predict(scan.space, scan.trials, [good, bad])
        assert abs(mean[0] - loss(good)) < 1.0 and sd[0] < 1.0, (seed, mean, sd)
        assert 1e6 < mean[1] < 1e8, (seed, mean)
    assert diverged >= 3  # the condition under test happened
    assert max(bests) < 1e-2, bests
