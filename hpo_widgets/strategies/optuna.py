"""An adapter that lets any Optuna sampler drive a scan (Optuna is an optional extra)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

from ..space import Choice, Fixed, Float, Int, Param, Space
from ..trial import Trial
from .base import Strategy, point_key

__all__ = ["OptunaStrategy"]

_PLAIN = (type(None), bool, int, float, str)


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("OptunaStrategy needs Optuna: pip install 'hpo-widgets[optuna]' "
                          "(or pip install optuna)") from None
    return optuna


@contextlib.contextmanager
def _quiet(optuna: Any) -> Iterator[None]:
    """Optuna logs a line per trial at INFO; the dashboard already shows every trial.
    The previous verbosity is restored (the scan calls strategies from one thread)."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


class _Mapping:
    """One parameter of our space as an Optuna distribution, and back."""

    def __init__(self, optuna: Any, p: Param) -> None:
        d = optuna.distributions
        self.p = p
        self.oname = p.name  # the name in the study (see OptunaStrategy._optuna_name)
        self.index = False
        self.snap = False
        if isinstance(p, Choice):
            self.index = not all(type(v) in _PLAIN for v in p.values)
            choices = list(range(len(p.values))) if self.index else list(p.values)
            self.dist = d.CategoricalDistribution(choices)
        elif isinstance(p, Int):
            if p.step is not None:
                grid = p.grid()
                self.dist = d.IntDistribution(grid[0], grid[-1], step=int(p.step))
            else:
                # num= values are not evenly spaced after rounding: sample the range, snap.
                self.snap = p.num is not None
                self.dist = d.IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            assert isinstance(p, Float)
            if p.step is not None:
                grid = p.grid()
                self.dist = d.FloatDistribution(grid[0], grid[-1], step=p.step)
                self.snap = True  # float steps drift by an ulp: land on our grid exactly
            else:
                self.snap = p.num is not None
                self.dist = d.FloatDistribution(p.low, p.high, log=p.log)

    def to_ours(self, value: Any) -> Any:
        if isinstance(self.p, Choice):
            return self.p.values[value] if self.index else self.p.values[self.p.index(value)]
        if self.snap:
            return self.p.decode(min(max(self.p.encode(value), 0.0), 1.0))
        return int(value) if isinstance(self.p, Int) else float(value)

    def to_optuna(self, value: Any) -> Any:
        if isinstance(self.p, Choice) and self.index:
            return self.p.index(value)
        return value

    def widened(self, optuna: Any, value: Any) -> Any:
        """A distribution that holds ``value`` (a stored point outside the space)."""
        d = optuna.distributions
        if isinstance(self.dist, d.CategoricalDistribution):
            if type(value) in _PLAIN:
                return d.CategoricalDistribution([*self.dist.choices, value])
            return None
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value)):
            return None
        lo, hi = min(self.dist.low, value), max(self.dist.high, value)
        log = self.dist.log and lo > 0
        if isinstance(self.dist, d.IntDistribution):
            if not float(value).is_integer():
                return None
            return d.IntDistribution(int(lo), int(hi), log=log)
        return d.FloatDistribution(float(lo), float(hi), log=log)


def _unseen(space: Space, busy: set[str]) -> Iterator[dict[str, Any]]:
    size = space.grid_size()
    if size is not None and size <= 100_000:
        for point in space.grid():
            if point_key(point) not in busy:
                yield point


class OptunaStrategy(Strategy):
    """Any Optuna sampler (TPE, CMA-ES, GP, QMC...) as a strategy, through Optuna's
    ask-and-tell interface on an in-memory study.

    ``sampler=None`` uses ``optuna.samplers.TPESampler(seed=seed)`` with the scan's
    seed; a sampler class (``optuna.samplers.CmaEsSampler``) is made with the scan's
    seed; a sampler object is used as it is (its own seed). Our space is mapped to
    Optuna distributions (log ranges, integer and float steps, choices; parameters
    given with ``num=`` are sampled on their range and snapped to the nearest allowed
    value). Finished trials are told with their value, failed ones as failed, pruned
    ones as pruned with their learning curve, and trials of a resumed scan are added
    to the study first. When the space is narrowed the sampler sees the new
    distributions; how it treats older trials is the sampler's own policy (a narrowed
    Choice goes on as a new parameter: Optuna does not let a categorical change).

    >>> import optuna, hpo_widgets as hw
    >>> s = hw.OptunaStrategy(optuna.samplers.RandomSampler(seed=0))
    >>> s.bind(seed=0, minimize=True)
    >>> sorted(s.ask(hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), act=["relu", "elu"]), [], []))
    ['act', 'lr']
    """

    name = "optuna"

    def __init__(self, sampler: Any = None) -> None:
        super().__init__()
        self.sampler = sampler
        self._study: Any = None
        self._outstanding: list[tuple[str, Any]] = []  # (point key, optuna Trial) asked
        self._synced: set[int] = set()  # our trial ids the study knows about
        self._dists: dict[str, list[tuple[Any, str]]] = {}  # name -> (distribution, name)

    def bind(self, *, seed: int | None, minimize: bool) -> None:
        super().bind(seed=seed, minimize=minimize)
        optuna = _import_optuna()
        sampler = self.sampler
        if sampler is None:
            sampler = optuna.samplers.TPESampler(seed=seed)
        elif isinstance(sampler, type):  # a sampler class: made here, with the scan's seed
            try:
                sampler = sampler(seed=seed)
            except TypeError:
                sampler = sampler()
        with _quiet(optuna):
            self._study = optuna.create_study(
                sampler=sampler, direction="minimize" if minimize else "maximize")
        self._outstanding = []
        self._synced = set()
        self._dists = {}

    def to_dict(self) -> dict[str, Any]:
        sampler = self.sampler if self.sampler is not None else "TPESampler"
        name = sampler if isinstance(sampler, str) else (
            sampler.__name__ if isinstance(sampler, type) else type(sampler).__name__)
        return {"name": self.name, "sampler": name}

    def __repr__(self) -> str:
        return f"OptunaStrategy({self.sampler!r})" if self.sampler is not None else \
            "OptunaStrategy()"

    def _optuna_name(self, optuna: Any, name: str, dist: Any) -> str:
        """The study's name for parameter ``name`` with distribution ``dist``.

        A study refuses to change a parameter's kind, its log flag or a categorical's
        values (a narrowed Choice, a range switched to log): such a parameter goes on
        under a new name (``act~1``), as a new dimension the sampler learns afresh.
        """
        known = self._dists.setdefault(name, [])
        for d, oname in known:
            if d == dist:
                return oname
        for d, oname in known:
            try:
                optuna.distributions.check_distribution_compatibility(d, dist)
            except ValueError:
                continue
            return oname
        oname = name if not known else f"{name}~{len(known)}"
        known.append((dist, oname))
        return oname

    # -- syncing our history into the study ---------------------------------------------
    def _state(self, optuna: Any, t: Trial) -> tuple[Any, float | None]:
        ts = optuna.trial.TrialState
        ok = t.value is not None and math.isfinite(float(t.value))
        if t.status == "finished" and ok:
            return ts.COMPLETE, float(t.value)  # type: ignore[arg-type]
        if t.status == "pruned":
            return ts.PRUNED, None
        return ts.FAIL, None

    @staticmethod
    def _curve(t: Trial) -> dict[int, float]:
        steps = [s for s, _ in t.curve]
        integral = all(float(s).is_integer() for s in steps) and len(set(steps)) == len(steps)
        out = {}
        for i, (s, v) in enumerate(t.curve):
            if math.isfinite(v):
                out[int(s) if integral else i] = float(v)
        return out

    def _tell(self, optuna: Any, ot: Any, t: Trial) -> None:
        state, value = self._state(optuna, t)
        if state == optuna.trial.TrialState.PRUNED:
            for step, v in self._curve(t).items():
                ot.report(v, step)
        self._study.tell(ot, value, state=state, skip_if_finished=True)

    def _add(self, optuna: Any, t: Trial, maps: dict[str, _Mapping]) -> None:
        """A trial this study never asked for (a resumed scan): add it as it was."""
        params, dists = {}, {}
        for name, m in maps.items():
            if name not in t.params:
                continue
            value = t.params[name]
            if m.p.contains(value):  # a point of the space is one of the distribution's
                params[m.oname], dists[m.oname] = m.to_optuna(value), m.dist
                continue
            dist = m.widened(optuna, value)
            if dist is not None:
                oname = self._optuna_name(optuna, name, dist)
                params[oname], dists[oname] = value, dist
        state, v = self._state(optuna, t)
        try:
            frozen = optuna.trial.create_trial(
                state=state, value=v, params=params, distributions=dists,
                intermediate_values=self._curve(t) if state != optuna.trial.TrialState.FAIL
                else None)
            self._study.add_trial(frozen)
        except (ValueError, TypeError):  # a point Optuna cannot represent: skip it
            pass

    def _sync(self, optuna: Any, history: Sequence[Trial],
              pending: Sequence[dict[str, Any]], maps: dict[str, _Mapping]) -> None:
        for t in history:
            if t.id in self._synced:
                continue
            self._synced.add(t.id)
            key = point_key(t.params)
            match = next((i for i, (k, _) in enumerate(self._outstanding) if k == key), None)
            if match is not None:
                _, ot = self._outstanding.pop(match)
                self._tell(optuna, ot, t)
            else:
                self._add(optuna, t, maps)
        # Asked points that are neither running nor ended were never run (an interrupted
        # trial, a proposal the scan dropped): Optuna has no "cancelled", so they fail.
        running = [point_key(p) for p in pending]
        keep = []
        for key, ot in self._outstanding:
            if key in running:
                running.remove(key)
                keep.append((key, ot))
            else:
                self._study.tell(ot, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        self._outstanding = keep

    # -- asking --------------------------------------------------------------------------
    def ask(self, space: Space, history: Sequence[Trial],
            pending: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        if self._study is None:
            self.bind(seed=self.seed, minimize=self.minimize)
        optuna = _import_optuna()
        maps = {n: _Mapping(optuna, p) for n, p in space.items() if p.tunable}
        for name, m in maps.items():
            m.oname = self._optuna_name(optuna, name, m.dist)
        busy = {point_key(p) for p in pending}
        with _quiet(optuna):
            self._sync(optuna, history, pending, maps)
            dists = {m.oname: m.dist for m in maps.values()}
            for _ in range(20):
                ot = self._study.ask(fixed_distributions=dists)
                params = {name: p.value if isinstance(p, Fixed) else
                          maps[name].to_ours(ot.params[maps[name].oname])
                          for name, p in space.items()}
                if point_key(params) not in busy:
                    self._outstanding.append((point_key(params), ot))
                    return params
                # A sampler may repeat a running point of a discrete space; that point is
                # never run, and "failed" is how Optuna is told to ignore it.
                self._study.tell(ot, state=optuna.trial.TrialState.FAIL)
        for point in _unseen(space, busy):  # the sampler keeps repeating itself
            return point
        return None
