"""Parameter values that round-trip the store exactly.

A trial's parameters are written to SQLite as JSON and must come back as the same values,
or a resumed scan hands the objective something else (a grid then repeats trials, and a
Talos ``optimizer=[Adam, Nadam]`` turns into ``"<class ...Adam at 0x7f...>"`` strings).
Plain JSON values pass through; importable classes and functions travel as their
qualified name; tuples keep being tuples. Anything else is refused up front
(:func:`check`), when the space is built, never at run time.

>>> import math
>>> decode(encode(math.sqrt)) is math.sqrt
True
>>> encode((1, 2)), decode(encode((1, 2)))
({'$tuple': [1, 2]}, (1, 2))
>>> label(math.sqrt)
'sqrt'
"""

from __future__ import annotations

import importlib
import math
import numbers
from typing import Any

__all__ = ["check", "decode", "encode", "label"]

_REF, _TUPLE = "$ref", "$tuple"


def _plain_scalar(v: Any) -> Any:
    """numpy scalars as the Python scalars they hold; others unchanged."""
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    item = getattr(v, "item", None)
    if callable(item) and getattr(v, "shape", None) == ():
        out = item()
        if isinstance(out, bool | int | float | str):
            return out
    return v


def _importable_name(v: Any) -> str | None:
    """``"module:qualname"`` when importing that gives back ``v`` itself, else ``None``."""
    mod, qual = getattr(v, "__module__", None), getattr(v, "__qualname__", None)
    if not isinstance(mod, str) or not isinstance(qual, str) or "<" in qual:
        return None
    try:
        obj: Any = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except Exception:  # noqa: BLE001 - not importable is an answer, not an error
        return None
    return f"{mod}:{qual}" if obj is v else None


def encode(v: Any) -> Any:
    """A JSON-ready form of ``v`` that :func:`decode` turns back into ``v``.

    Raises ``TypeError`` for values that cannot round-trip (say which and how to fix).
    """
    v = _plain_scalar(v)
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, tuple):
        return {_TUPLE: [encode(x) for x in v]}
    if isinstance(v, list):
        return [encode(x) for x in v]
    if isinstance(v, dict):
        if not all(isinstance(k, str) for k in v) or _REF in v or _TUPLE in v:
            raise TypeError(f"a dict value needs string keys (and none named {_REF!r} or "
                            f"{_TUPLE!r}), got {v!r:.80}")
        return {k: encode(x) for k, x in v.items()}
    if callable(v):
        name = _importable_name(v)
        if name is not None:
            return {_REF: name}
        raise TypeError(
            f"{v!r:.80} cannot be stored: only importable classes and functions (defined at "
            "the top level of a module) can be parameter values; define it at module level, "
            "or use its name as a string and look it up in your objective")
    raise TypeError(
        f"{v!r:.80} ({type(v).__name__}) cannot be stored and given back to a resumed scan; "
        "use numbers, strings, booleans, None, tuples/lists of them, or importable classes "
        "and functions (e.g. keras.optimizers.Adam); for other objects use a string key and "
        "look the object up in your objective")


def decode(obj: Any) -> Any:
    """The value :func:`encode` was given (imports a class or function by its name)."""
    if isinstance(obj, list):
        return [decode(x) for x in obj]
    if isinstance(obj, dict):
        if len(obj) == 1 and _REF in obj:
            mod, _, qual = str(obj[_REF]).partition(":")
            value: Any = importlib.import_module(mod)
            for part in qual.split("."):
                value = getattr(value, part)
            return value
        if len(obj) == 1 and _TUPLE in obj:
            return tuple(decode(x) for x in obj[_TUPLE])
        return {k: decode(x) for k, x in obj.items()}
    return obj


def check(v: Any, where: str) -> Any:
    """``v`` as it will be stored and given back; ``ValueError`` naming ``where`` if it
    cannot round-trip (call when a space is built)."""
    try:
        back = decode(encode(v))
    except TypeError as e:
        raise ValueError(f"{where}: {e}") from None
    plain = _plain_scalar(v)
    if isinstance(plain, float) and not math.isfinite(plain):
        raise ValueError(f"{where}: values must be finite, got {v!r}")
    return back


def label(v: Any) -> Any:
    """How a value is shown in tables and charts: ``Adam`` for a class, ``relu`` for a
    function, plain values as they are."""
    if callable(v) and not isinstance(v, type(None)):
        name = getattr(v, "__name__", None)
        if isinstance(name, str):
            return name
    return v
