"""Search spaces: what a scan may try.

A :class:`Space` maps parameter names to parameter objects (:class:`Int`,
:class:`Float`, :class:`Choice`, :class:`Bool`, :class:`Fixed`). Spaces are
immutable: narrowing returns a new space, so a running scan can swap its space
atomically and trials already started keep the one they were drawn from.

Strategies see a space through its unit-cube encoding: every tunable parameter
is one coordinate in ``[0, 1]`` (log ranges are uniform in log space, integers
and steps are rounded on decoding, a choice of ``k`` values splits the interval
into ``k`` equal cells). Fixed parameters have no coordinate.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import values as _values

__all__ = ["MAX_GRID_SIZE", "Bool", "Choice", "Fixed", "Float", "Int", "Param", "Space",
           "talos_values"]

#: Largest grid the grid strategy will enumerate. Above this a grid search is a
#: mistake (it would not finish); random or Bayesian search is the fix.
MAX_GRID_SIZE = 1_000_000


def _finite_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, got {value!r}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"{what} must be finite, got {value!r}; give a finite bound")
    return f


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so params are JSON- and user-friendly."""
    if isinstance(value, np.generic):
        return value.item()
    return value


class Param:
    """One tunable parameter. Subclasses are small immutable value objects."""

    name: str = "?"
    kind: str = "?"

    # -- what every parameter answers -------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Any:
        """A random value (uniform in the encoding)."""
        return self.decode(float(rng.random()))

    def encode(self, value: Any) -> float:  # pragma: no cover - abstract
        """Position of ``value`` in ``[0, 1]`` (values outside the range map outside)."""
        raise NotImplementedError

    def decode(self, u: float) -> Any:  # pragma: no cover - abstract
        """The value at unit-cube coordinate ``u`` (clipped to ``[0, 1]``)."""
        raise NotImplementedError

    def grid(self) -> list[Any] | None:
        """All values, when the parameter is discrete; ``None`` for a continuous one."""
        return None

    def contains(self, value: Any) -> bool:  # pragma: no cover - abstract
        """Whether ``value`` is a legal value of this parameter."""
        raise NotImplementedError

    def size(self) -> int | None:
        """Number of distinct values (``None`` when continuous), without listing them."""
        g = self.grid()
        return None if g is None else len(g)

    @property
    def tunable(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _named(self, name: str) -> Param:
        clone = self._replace()
        clone.name = name
        return clone

    def _replace(self, **changes: Any) -> Param:
        # to_dict() is the stored (JSON) form; decoding gives the constructor's values back
        args = {k: _values.decode(v) for k, v in self.to_dict().items() if k != "type"}
        args.update(changes)
        clone = type(self)(**args)
        clone.name = self.name
        return clone

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=repr))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_values.decode(v)!r}" for k, v in self.to_dict().items()
                         if k != "type")
        return f"{type(self).__name__}({args})"


class _Numeric(Param):
    """Shared logic of Int and Float: a [low, high] range, optionally log and stepped."""

    def __init__(self, low: Any, high: Any, *, log: bool = False, step: Any = None,
                 num: int | None = None) -> None:
        who = type(self).__name__
        if not isinstance(log, bool | np.bool_):
            raise TypeError(f"{who}: log must be True or False, got {log!r}; "
                            "e.g. log=True for a learning rate")
        lo = _finite_number(low, f"{who} low")
        hi = _finite_number(high, f"{who} high")
        if lo >= hi:
            raise ValueError(
                f"{who}: low ({low!r}) must be below high ({high!r}); swap them, "
                f"or use Fixed({low!r}) for a single value")
        if log and lo <= 0:
            raise ValueError(
                f"{who}: a log range needs low > 0, got low={low!r}; "
                f"use a positive low such as {hi / 1000:g}, or log=False")
        if step is not None and num is not None:
            raise ValueError(f"{who}: give step= or num=, not both")
        if step is not None:
            s = _finite_number(step, f"{who} step")
            if s <= 0:
                raise ValueError(f"{who}: step must be > 0, got {step!r}")
            if log:
                raise ValueError(f"{who}: step= does not combine with log=True; use num= for "
                                 "evenly spaced values in log space")
            if s > hi - lo:
                raise ValueError(
                    f"{who}: step ({step!r}) is larger than the range {low!r}..{high!r}; "
                    f"use a step of at most {hi - lo:g}, or Choice([...])")
        if num is not None:
            if isinstance(num, bool) or not isinstance(num, numbers.Integral) or num < 2:
                raise ValueError(f"{who}: num must be an integer >= 2, got {num!r}")
            num = int(num)
        self.low, self.high, self.log = lo, hi, bool(log)
        self.step = None if step is None else float(step)
        self.num = num

    # continuous coordinate <-> raw number (before rounding)
    def _to_raw(self, u: float) -> float:
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def _from_raw(self, x: float) -> float:
        if self.log:
            if x <= 0:
                return -math.inf
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def encode(self, value: Any) -> float:
        return self._from_raw(float(value))

    def _values(self) -> list[float] | None:
        if self.num is not None:
            us = np.linspace(0.0, 1.0, self.num)
            return [self._to_raw(float(u)) for u in us]
        if self.step is not None:
            n = math.floor((self.high - self.low) / self.step + 1e-9)
            return [self.low + i * self.step for i in range(n + 1)]
        return None

    def size(self) -> int | None:
        if self.num is not None:
            return len(self._values() or [])
        if self.step is not None:
            return math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return None

    def _snap(self, x: float) -> float:
        vals = self._values()
        if vals is not None:
            return min(vals, key=lambda v: abs(self._from_raw(v) - self._from_raw(x)))
        return min(max(x, self.low), self.high)

    def narrow(self, low: Any, high: Any) -> Param:
        """The same parameter on ``[low, high]``.

        A discrete parameter (``step=`` or ``num=``) keeps exactly its values that lie in
        the new range, so narrowing never invents values that were not on its grid; one
        value left gives a :class:`Fixed`.
        """
        vals = self._values()
        if vals is None or (self.num is None and self.step is None):
            return self._replace(low=low, high=high)
        lo, hi = float(low), float(high)
        idx = [i for i, v in enumerate(vals) if lo - 1e-12 * max(1.0, abs(lo)) <= v
               <= hi + 1e-12 * max(1.0, abs(hi))]
        if not idx:
            raise ValueError(f"{type(self).__name__} {self.name!r}: no value of {self!r} lies "
                             f"in {low!r}..{high!r}; pick a range that holds one")
        first, last = vals[idx[0]], vals[idx[-1]]
        if len(idx) == 1:
            return Fixed(self._out(first))
        if self.step is not None:
            return self._replace(low=self._out(first), high=self._out(last))
        return self._replace(low=self._out(first), high=self._out(last), num=len(idx))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.kind, "low": _plain(self._out(self.low)),
                             "high": _plain(self._out(self.high))}
        if self.log:
            d["log"] = True
        if self.step is not None:
            d["step"] = self._out(self.step)
        if self.num is not None:
            d["num"] = self.num
        return d

    def _out(self, x: float) -> Any:
        return x


class Float(_Numeric):
    """A real number in ``[low, high]``.

    ``log=True`` searches uniformly in log space (learning rates, regularisation);
    ``step=`` or ``num=`` make it discrete (``num`` evenly spaced values, ends included).

    >>> Float(1e-4, 1e-1, log=True).decode(0.5)  # doctest: +ELLIPSIS
    0.00316...
    """

    kind = "float"

    def decode(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        x = self._to_raw(u)
        if self.num is not None or self.step is not None:
            x = self._snap(x)
        return float(min(max(x, self.low), self.high))

    def grid(self) -> list[Any] | None:
        vals = self._values()
        return None if vals is None else [float(v) for v in vals]

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        v = float(value)
        if not (self.low - 1e-12 * abs(self.low) <= v <= self.high + 1e-12 * abs(self.high)):
            return False
        vals = self._values()
        return vals is None or any(math.isclose(v, g, rel_tol=1e-9, abs_tol=1e-12) for g in vals)


class Int(_Numeric):
    """An integer in ``[low, high]`` (both included); ``log=True`` for widths like 16..512.

    >>> Int(16, 512, log=True).grid()[:3]
    [16, 17, 18]
    """

    kind = "int"

    def __init__(self, low: Any, high: Any, *, log: bool = False, step: Any = None,
                 num: int | None = None) -> None:
        for what, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"Int {what} must be an integer, got {v!r}")
            if isinstance(v, float) and math.isfinite(v) and not v.is_integer():
                raise ValueError(f"Int {what} must be a whole number, got {v!r}; use Float for "
                                 "real-valued ranges")
        if step is not None and (not isinstance(step, numbers.Real) or float(step) != int(step)):
            raise ValueError(f"Int step must be a whole number, got {step!r}")
        super().__init__(low, high, log=log, step=step, num=num)
        if self.step is None and self.num is None:
            self._int_step = 1
        else:
            self._int_step = None

    def _values(self) -> list[float] | None:
        if self.num is not None:
            raw = super()._values() or []
            out: list[float] = []
            for v in raw:
                r = float(round(v))
                if r not in out:
                    out.append(r)
            return out
        if self.step is not None:
            return super()._values()
        return [float(v) for v in range(int(self.low), int(self.high) + 1)]

    def decode(self, u: float) -> int:
        u = min(max(float(u), 0.0), 1.0)
        if self.num is not None or self.step is not None:
            return round(self._snap(self._to_raw(u)))
        # Equal-probability cells: u in [0, 1] -> n integers, log-aware. A log Int has
        # low >= 1, so low - 0.5 > 0.
        lo, hi = int(self.low), int(self.high)
        if self.log:
            a, b = math.log(lo - 0.5), math.log(hi + 0.5)
            return int(min(max(round(math.exp(a + u * (b - a))), lo), hi))
        x = (lo - 0.5) + u * (hi - lo + 1)
        return int(min(max(round(x), lo), hi))

    def encode(self, value: Any) -> float:
        v = float(value)
        if self.num is not None or self.step is not None:
            return self._from_raw(v)
        lo, hi = int(self.low), int(self.high)
        if self.log:
            a, b = math.log(lo - 0.5), math.log(hi + 0.5)
            return (math.log(v) - a) / (b - a) if v > 0 else -math.inf
        return (v - (lo - 0.5)) / (hi - lo + 1)

    def grid(self) -> list[Any] | None:
        return [int(v) for v in self._values() or []]

    def size(self) -> int | None:
        if self.num is None and self.step is None:
            return int(self.high) - int(self.low) + 1
        return super().size()

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not (isinstance(value, numbers.Integral) or (
                isinstance(value, float) and value.is_integer())):
            return False
        v = int(value)
        if self.num is None and self.step is None:
            return int(self.low) <= v <= int(self.high)
        return any(v == int(g) for g in self._values() or [])

    def _out(self, x: float) -> Any:
        return int(x)

    def narrow(self, low: Any, high: Any) -> Param:
        lo, hi = math.ceil(float(low) - 1e-9), math.floor(float(high) + 1e-9)
        if lo > hi or (lo == hi and self.num is None and self.step is None):
            raise ValueError(f"Int {self.name!r}: narrowing to {low!r}..{high!r} leaves "
                             f"{'one value' if lo == hi else 'no value'}; use Fixed({lo}) "
                             "to pin it, or a wider range")
        return super().narrow(lo, hi)


class Choice(Param):
    """One of a list of values (strings, numbers, ``None``...).

    >>> Choice(["relu", "elu"]).grid()
    ['relu', 'elu']
    """

    kind = "choice"

    def __init__(self, values: Iterable[Any]) -> None:
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise TypeError(f"Choice values must be a list, got {values!r}; "
                            "e.g. Choice(['a', 'b'])")
        vals = [_plain(v) for v in values]
        if not vals:
            raise ValueError("Choice needs at least one value, got an empty list; "
                             "add values, or drop the parameter")
        # each value must come back from the store as itself (a class by its importable
        # name, a tuple as a tuple), or a resumed scan would hand the objective a string
        vals = [_values.check(v, "Choice value") for v in vals]
        seen: list[Any] = []
        for v in vals:
            same = [s for s in seen if _same_choice(v, s)]
            if same:
                twice = f"{v!r} twice" if repr(same[0]) == repr(v) else \
                    f"{same[0]!r} and {v!r}, which are equal"
                raise ValueError(f"Choice lists {twice}; list each value once")
            seen.append(v)
        self.values = vals
        at: dict[tuple[type, Any], int] = {}
        for i, v in enumerate(vals):
            try:
                at.setdefault((type(v), v), i)
            except TypeError:   # an unhashable value: found by the scan below
                pass
        self._at = at

    def decode(self, u: float) -> Any:
        k = len(self.values)
        i = min(max(int(float(u) * k), 0), k - 1)
        return self.values[i]

    def index(self, value: Any) -> int:
        try:   # the usual case, a value given out by this Choice: one dict lookup
            i = self._at.get((type(value), value))
        except TypeError:   # an unhashable value
            i = None
        except AttributeError:   # built before _at existed (unpickled)
            i = None
        if i is not None:
            return i
        plain = _plain(value)
        for i, v in enumerate(self.values):
            if type(v) is type(plain) and v == plain:
                return i
        for i, v in enumerate(self.values):  # 1 == 1.0 across numeric types
            if v == value and not isinstance(v, bool):
                return i
        raise ValueError(f"{value!r} is not one of {self.values!r}")

    def encode(self, value: Any) -> float:
        try:
            return (self.index(value) + 0.5) / len(self.values)
        except ValueError:
            return math.nan

    def grid(self) -> list[Any] | None:
        return list(self.values)

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True

    def narrow(self, values: Iterable[Any]) -> Choice:
        """The same parameter restricted to ``values`` (each must be one of the current ones)."""
        vals = list(values)
        for v in vals:
            if not self.contains(v):
                raise ValueError(f"Choice {self.name!r}: {v!r} is not one of {self.values!r}")
        return self._replace(values=vals)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "values": [_values.encode(v) for v in self.values]}


class Bool(Choice):
    """``False`` or ``True``.

    >>> Bool().grid()
    [False, True]
    """

    kind = "bool"

    def __init__(self, values: Iterable[bool] = (False, True)) -> None:
        vals = list(values)
        if not vals or any(not isinstance(v, bool | np.bool_) for v in vals):
            raise ValueError(f"Bool values must be True/False, got {vals!r}")
        super().__init__([bool(v) for v in vals])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.kind}
        if self.values != [False, True]:
            d["values"] = list(self.values)
        return d


class Fixed(Param):
    """A value that is not tuned but passed to every trial (``epochs=20``).

    >>> Fixed(20).grid()
    [20]
    """

    kind = "fixed"

    def __init__(self, value: Any) -> None:
        self.value = _values.check(_plain(value), "Fixed value")

    @property
    def tunable(self) -> bool:
        return False

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def encode(self, value: Any) -> float:
        return 0.5

    def decode(self, u: float) -> Any:
        return self.value

    def grid(self) -> list[Any] | None:
        return [self.value]

    def contains(self, value: Any) -> bool:
        return bool(_plain(value) == self.value)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "value": _values.encode(self.value)}


_KINDS: dict[str, type[Param]] = {"int": Int, "float": Float, "choice": Choice, "bool": Bool,
                                  "fixed": Fixed}


def _same_choice(a: Any, b: Any) -> bool:
    """Whether two choice values are one value listed twice (``1`` and ``1.0`` are: a
    search would treat them as one point; ``True`` and ``1`` are not)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - values that cannot be compared are different
        return False


def _param_from_dict(d: Mapping[str, Any]) -> Param:
    """A parameter from its :meth:`Param.to_dict` form (classes and tuples restored)."""
    d = {k: _values.decode(v) for k, v in d.items()}
    cls = _KINDS[d.pop("type")]
    return cls(**d)


def talos_values(low: Any, high: Any, n: Any) -> list[Any]:
    """The values Talos searches for a ``(low, high, n)`` tuple.

    Talos reads it as ``numpy.arange(low, high, (high - low) / n)``: ``n`` values from
    ``low`` in equal steps, ``high`` itself excluded; when both ends are Python ints the
    values are truncated to ints and repeats dropped.

    >>> talos_values(0, 0.5, 5)
    [0.0, 0.1, 0.2, 0.30000000000000004, 0.4]
    >>> talos_values(2, 30, 10)
    [2, 4, 7, 10, 13, 16, 18, 21, 24, 27]
    """
    vals = np.arange(low, high, (high - low) / n)
    if isinstance(low, numbers.Integral) and isinstance(high, numbers.Integral):
        return [int(v) for v in np.unique(vals.astype(int))]
    return [float(v) for v in vals]


def _from_talos(name: str, spec: Any) -> Param:
    """One Talos-style entry -> a Param (see :meth:`Space.from_dict`)."""
    if isinstance(spec, Param):
        return spec
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"parameter {name!r}: empty list; give at least one value")
        if len(spec) == 1:
            return Fixed(spec[0])
        if all(isinstance(v, bool) for v in spec):
            return Bool(spec)
        return Choice(spec)
    if isinstance(spec, tuple):
        if len(spec) not in (2, 3):
            raise ValueError(
                f"parameter {name!r}: a tuple must be (low, high), (low, high, n) or "
                f"(low, high, 'log'), got {spec!r}; use a list for a choice")
        low, high = spec[0], spec[1]
        for what, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"parameter {name!r}: {what} must be a number, got {v!r}")
        both_int = all(isinstance(v, numbers.Integral) for v in (low, high))
        cls: type[_Numeric] = Int if both_int else Float
        if len(spec) == 2:
            return cls(low, high)
        third = spec[2]
        if isinstance(third, str):
            if third.lower() != "log":
                raise ValueError(f"parameter {name!r}: the third item must be a count or "
                                 f"'log', got {third!r}")
            return cls(low, high, log=True)
        if isinstance(third, bool) or not isinstance(third, numbers.Integral) or third < 1:
            raise ValueError(f"parameter {name!r}: the number of steps must be a positive "
                             f"integer, got {third!r}")
        if low >= high:
            raise ValueError(f"parameter {name!r}: low ({low!r}) must be below high "
                             f"({high!r}) in (low, high, n); swap them, or give one value")
        # Talos's meaning, so a Talos dict searches the values it searched there:
        # n steps from low, high excluded (hw.Float(low, high, num=n) includes both ends)
        vals = talos_values(low, high, int(third))
        return Fixed(vals[0]) if len(vals) == 1 else Choice(vals)
    if isinstance(spec, Mapping | set | frozenset):
        raise TypeError(f"parameter {name!r}: cannot read {type(spec).__name__} {spec!r}; use "
                        "(low, high), a list of choices, a scalar, or hw.Float/Int/Choice")
    if isinstance(spec, range):
        return _from_talos(name, list(spec))
    return Fixed(spec)


class Space(Mapping[str, Param]):
    """A search space: named parameters.

    >>> import hpo_widgets as hw
    >>> space = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), units=hw.Choice([32, 64]),
    ...                  epochs=hw.Fixed(20))
    >>> space.grid_size() is None    # lr is continuous
    True
    >>> sorted(space.sample(seed=0))
    ['epochs', 'lr', 'units']

    Plain values are accepted too and read the Talos way (see :meth:`from_dict`).
    """

    def __init__(self, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        items: dict[str, Any] = {}
        if params is not None:
            if isinstance(params, Space):
                items.update(params._params)
            elif isinstance(params, Mapping):
                items.update(params)
            else:
                raise TypeError(f"Space() takes a dict of parameters, got {type(params).__name__}")
        items.update(kwargs)
        if not items:
            raise ValueError("Space needs at least one parameter, e.g. Space(lr=Float(1e-4, 1e-1))")
        self._params: dict[str, Param] = {}
        for name, spec in items.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"parameter name {name!r} must be a Python identifier "
                                 "(letters, digits, underscores)")
            try:
                p = _from_talos(name, spec)
            except (TypeError, ValueError) as e:
                msg = str(e)
                if repr(name) not in msg:
                    msg = f"parameter {name!r}: {msg}"
                raise type(e)(msg) from None
            self._params[name] = p._named(name)
        self._tunable = [n for n, p in self._params.items() if p.tunable]

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Space:
        """Read a Talos-style dict.

        ``(low, high)`` a range (integers if both ends are integers), ``(low, high, n)``
        the values Talos searches for it (:func:`talos_values`: ``n`` steps from ``low``,
        ``high`` excluded, ints truncated and deduplicated when both ends are ints; for
        ``n`` evenly spaced values with both ends use ``hw.Float(low, high, num=n)``),
        ``(low, high, "log")`` a log range, a list a choice, a scalar a fixed value.

        >>> s = Space.from_dict({"lr": (1e-4, 1e-1, "log"), "units": [32, 64], "epochs": 20})
        >>> s["lr"], s["units"], s["epochs"]
        (Float(low=0.0001, high=0.1, log=True), Choice(values=[32, 64]), Fixed(value=20))
        """
        if isinstance(spec, Space):
            return spec
        if not isinstance(spec, Mapping):
            raise TypeError(f"Space.from_dict takes a dict, got {type(spec).__name__}")
        return cls(dict(spec))

    @classmethod
    def coerce(cls, space: Any) -> Space:
        """A Space from a Space or a Talos-style dict (what Scan accepts)."""
        if isinstance(space, Space):
            return space
        if isinstance(space, Mapping):
            return cls.from_dict(space)
        raise TypeError("space must be an hw.Space or a dict of ranges, got "
                        f"{type(space).__name__}")

    # -- mapping protocol ----------------------------------------------------------------
    def __getitem__(self, name: str) -> Param:
        try:
            return self._params[name]
        except KeyError:
            raise KeyError(f"no parameter {name!r}; the space has {list(self._params)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self._params == other._params

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return "Space(" + ", ".join(f"{n}={p!r}" for n, p in self._params.items()) + ")"

    # -- what strategies use -------------------------------------------------------------
    @property
    def tunable(self) -> list[str]:
        """Names of the parameters that have a unit-cube coordinate (all but Fixed)."""
        return list(self._tunable)

    @property
    def ndim(self) -> int:
        return len(self._tunable)

    def sample(self, rng: np.random.Generator | None = None, *, seed: int | None = None) -> dict:
        """One random point (uniform in the encoding)."""
        if rng is None:
            rng = np.random.default_rng(seed)
        return self.decode(rng.random(self.ndim))

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Unit-cube coordinates of ``params`` (tunable parameters, in order).

        Values outside a range map outside ``[0, 1]``; a value that is not one of a
        choice's values maps to NaN. Strategies that keep learning after the space is
        narrowed encode old points in the space they were drawn from.
        """
        return np.array([self._params[n].encode(params[n]) for n in self._tunable], dtype=float)

    def decode(self, u: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """The point at unit-cube coordinates ``u`` (one per tunable parameter)."""
        if len(u) != len(self._tunable):
            raise ValueError(f"expected {len(self._tunable)} coordinates, got {len(u)}")
        it = iter(u)
        out: dict[str, Any] = {}
        for name, p in self._params.items():
            out[name] = p.decode(float(next(it))) if p.tunable else p.decode(0.5)
        return out

    def contains(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` is a legal point of this space."""
        return all(n in params and p.contains(params[n]) for n, p in self._params.items())

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the first parameter that ``params`` gets wrong."""
        for n, p in self._params.items():
            if n not in params:
                raise ValueError(f"point lacks parameter {n!r}")
            if not p.contains(params[n]):
                raise ValueError(f"{n}={params[n]!r} is outside {p!r}")

    # -- grids ---------------------------------------------------------------------------
    def grid_size(self) -> int | None:
        """Number of grid points, or ``None`` when a parameter is continuous.

        Computed without enumerating, as an exact Python integer (no overflow).
        """
        total = 1
        for p in self._params.values():
            n = p.size()
            if n is None:
                return None
            total *= n
        return total

    def grid_axes(self, limit: int = MAX_GRID_SIZE) -> list[tuple[str, list[Any]]]:
        """``(name, values)`` per parameter, after checking the grid is enumerable."""
        continuous = [n for n, p in self._params.items() if p.size() is None]
        if continuous:
            raise ValueError(
                f"grid search needs discrete parameters, but {continuous} "
                f"{'is' if len(continuous) == 1 else 'are'} continuous; give "
                "num= or step= (Talos: (low, high, n)), or use strategy='random'")
        size = self.grid_size()
        assert size is not None
        if size > limit:
            raise ValueError(
                f"the grid has {size:,} points, more than the {limit:,} a grid search will "
                "enumerate; use fewer values per parameter or strategy='random' / 'sobol'")
        return [(n, list(p.grid() or [])) for n, p in self._params.items()]

    def grid(self, limit: int = MAX_GRID_SIZE) -> Iterator[dict[str, Any]]:
        """Every point of the grid, in a fixed order (refused when too large)."""
        axes = self.grid_axes(limit)
        names = [n for n, _ in axes]
        for combo in itertools.product(*(vals for _, vals in axes)):
            yield dict(zip(names, combo, strict=True))

    # -- narrowing -------------------------------------------------------------------------
    def narrow(self, name: str | None = None, low: Any = None, high: Any = None, *,
               values: Iterable[Any] | None = None, **ranges: Any) -> Space:
        """A new space with parameters narrowed; the others unchanged.

        ``space.narrow("lr", 1e-3, 1e-2)``, ``space.narrow("act", values=["relu"])``, or
        several at once: ``space.narrow(lr=(1e-3, 1e-2), act=["relu"], units=64)``
        (a tuple narrows a range, a list restricts a choice, a scalar fixes).
        """
        changes: dict[str, Any] = dict(ranges)
        if name is not None:
            if values is not None:
                changes[name] = list(values)
            elif low is not None and high is not None:
                changes[name] = (low, high)
            else:
                raise ValueError(f"narrow({name!r}, ...) needs low and high, or values=[...]")
        new = dict(self._params)
        for n, spec in changes.items():
            p = self[n]
            try:
                new[n] = self._narrow_one(p, spec)._named(n)
            except (TypeError, ValueError) as e:
                msg = str(e)
                raise type(e)(msg if repr(n) in msg else f"parameter {n!r}: {msg}") from None
        return Space(new)

    @staticmethod
    def _narrow_one(p: Param, spec: Any) -> Param:
        if isinstance(spec, Param):
            return spec
        if isinstance(spec, tuple):
            if not isinstance(p, _Numeric) or len(spec) != 2:
                raise ValueError(f"a (low, high) range narrows Int/Float, not {p!r}")
            return p.narrow(*spec)
        if isinstance(spec, list):
            if isinstance(p, Choice):
                narrowed = p.narrow(spec)
                return narrowed if len(spec) > 1 else Fixed(narrowed.values[0])
            return Choice(spec) if len(spec) > 1 else Fixed(spec[0])
        return Fixed(spec)

    def fix(self, **values: Any) -> Space:
        """A new space with the given parameters fixed to one value."""
        return self.narrow(**values)

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {n: p.to_dict() for n, p in self._params.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Space:
        return cls({n: _param_from_dict(d) for n, d in json.loads(text).items()})
