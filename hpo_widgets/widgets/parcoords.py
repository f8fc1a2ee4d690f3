"""Parallel coordinates over all parameters of a scan, coloured by score, with brushing.

bqplot has no such chart, so this is a small custom widget (anywidget): the front end in
``js/src/parcoords.ts`` draws the lines on a canvas and the axes in SVG, and is bundled
into ``hpo_widgets/static/parcoords.js`` when the package is built. The wire protocol
lives in :mod:`hpo_widgets.widgets._protocol`.

>>> import numpy as np
>>> pc = ParallelCoordinates(
...     dims=[{"name": "lr", "kind": "log", "min": 1e-4, "max": 1e-1},
...           {"name": "act", "kind": "choice", "min": 0, "max": 2,
...            "labels": ["relu", "elu", "gelu"]}],
...     metric="val_loss", minimize=True)
>>> pc.append([0, 1], np.array([[1e-3, 0], [3e-2, 2]]), [0.41, 0.37])
>>> pc.n_rows
2
>>> pc.selection   # {"lr": [lo, hi], "act": ["elu"]} once the user brushes axes
{}

Only new rows travel per :meth:`ParallelCoordinates.append` (one message, numbers in
binary buffers); the widget keeps every row so that a view opened later (a page reload,
a second display, the JupyterLab side panel) asks for and gets them all.
"""

from __future__ import annotations

import math
import threading
import uuid
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from . import _protocol as proto

__all__ = ["ParallelCoordinates"]

STATIC_JS = Path(__file__).resolve().parent.parent / "static" / "parcoords.js"
"""The bundled front end; built from ``js/`` by ``pip install`` (hatch-jupyter-builder)."""

# Shown instead of the chart when the bundle is missing (a source checkout installed
# without its build step): a plain message beats "Error displaying widget".
_MISSING_ESM = """
export default { render({ el }) {
  el.classList.add("hpo-parcoords");
  el.textContent = "hpo_widgets: the parallel-coordinates front end is not built " +
    "(hpo_widgets/static/parcoords.js is missing). Reinstall with " +
    "`pip install -e .` (needs npm), or run `npm install && npm run build` in js/.";
} };
"""

_MAX_ID = 2**53  # ids travel as float64: exact integers up to here


class ParallelCoordinates(anywidget.AnyWidget):
    """Parallel-coordinates chart: one axis per dim, then the score axis; one line per row.

    Lines are coloured by score rank (best = the bright end of the ramp), the best row is
    drawn on top and thicker, and rows outside the brushed ranges are drawn faint grey.
    The user brushes an axis by dragging on it; the brushed ranges arrive in
    :attr:`selection`.

    Rows are added with :meth:`append` (new rows only) and replaced with :meth:`reset`.
    Both may be called from any thread; they are serialised with a lock, so the order of
    rows seen by the front end is the order of the calls.

    >>> pc = ParallelCoordinates(dims=[{"name": "x", "kind": "linear", "min": 0, "max": 1}])
    >>> pc.append([7], [[0.5]], [1.25])
    >>> pc.rows[0].tolist(), pc.rows[1].tolist(), pc.rows[2].tolist()
    ([7], [[0.5]], [1.25])
    """

    _esm = STATIC_JS if STATIC_JS.is_file() else _MISSING_ESM

    dims = traitlets.List(
        traitlets.Dict(),
        help='Axes, in order: [{"name", "kind": "log"|"linear"|"int"|"choice", "min", '
        '"max", "labels" (choice only)}]. min/max are the search range in real units.',
    ).tag(sync=True)
    metric = traitlets.Unicode(
        "value", help="Name of the score on the last axis (also its key in `selection`)."
    ).tag(sync=True)
    minimize = traitlets.Bool(
        True, help="True when a lower score is better; the best end is drawn on top."
    ).tag(sync=True)
    selection = traitlets.Dict(
        help="Brushed ranges, set by the front end: {dim: [lo, hi]} in data units, or "
        "{dim: [label, ...]} for a choice dim; the score axis uses the metric's name. "
        "A missing key means no brush on that axis.",
    ).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        # Set before traits are assigned: the dims observer reads them.
        self._lock = threading.RLock()
        self._replacing_dims = False
        self._n = 0
        self._ids = np.empty(0, dtype=np.float64)
        self._values = np.empty((0, 0), dtype=np.float64)
        self._scores = np.empty(0, dtype=np.float64)
        super().__init__(**kwargs)
        self._values = np.empty((0, len(self.dims)), dtype=np.float64)
        self.on_msg(self._on_front_end_msg)

    # --- rows ---------------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        """Number of rows held (every row appended since the last reset)."""
        return self._n

    @property
    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of all rows held: ``(ids (n,) int64, values (n, d), scores (n,))``."""
        with self._lock:
            n = self._n
            return (
                self._ids[:n].astype(np.int64),
                self._values[:n].copy(),
                self._scores[:n].copy(),
            )

    def append(self, ids: Any, values: Any, scores: Any) -> None:
        """Add new rows (finished trials) and send only them to the front end.

        ``ids``: (n,) integers; ``values``: (n, d) floats in the order of :attr:`dims`,
        a choice column holding the index into that dim's labels (NaN = no value);
        ``scores``: (n,) floats. Sent as one message with binary buffers. An empty
        append sends nothing. Raises ValueError naming the argument on a bad shape.

        >>> pc = ParallelCoordinates(dims=[{"name": "x", "kind": "int", "min": 0, "max": 9}])
        >>> pc.append([1, 2], [[3], [4]], [0.5, 0.25]); pc.n_rows
        2
        """
        with self._lock:
            ids_a, values_a, scores_a = _check_rows(ids, values, scores, self.dims)
            if len(ids_a) == 0:
                return
            self._store(ids_a, values_a, scores_a, replace=False)
            self._send_rows(proto.MODE_APPEND, ids_a, values_a, scores_a, request=None)

    def reset(
        self,
        ids: Any = None,
        values: Any = None,
        scores: Any = None,
        *,
        dims: list[dict[str, Any]] | None = None,
    ) -> None:
        """Replace all rows (no arguments: remove them all), optionally with new ``dims``.

        Passing ``dims`` here changes axes and rows together, which is what a change of
        the space's parameters needs (assigning :attr:`dims` with other dim names drops
        the rows held, since their columns no longer fit).

        >>> pc = ParallelCoordinates(dims=[{"name": "x", "kind": "linear", "min": 0, "max": 1}])
        >>> pc.reset([0], [[0.5, 2.0]], [1.0], dims=pc.dims + [
        ...     {"name": "y", "kind": "linear", "min": 0, "max": 4}])
        >>> pc.n_rows, [d["name"] for d in pc.dims]
        (1, ['x', 'y'])
        """
        given = [a is not None for a in (ids, values, scores)]
        if any(given) and not all(given):
            missing = [k for k, g in zip(("ids", "values", "scores"), given, strict=True) if not g]
            raise ValueError(
                f"reset() takes ids, values and scores together, or none of them to "
                f"remove every row; {', '.join(missing)} missing"
            )
        with self._lock:
            new_dims = _check_dims(dims) if dims is not None else self.dims
            if all(given):
                ids_a, values_a, scores_a = _check_rows(ids, values, scores, new_dims)
            else:
                ids_a = np.empty(0, dtype=np.float64)
                values_a = np.empty((0, len(new_dims)), dtype=np.float64)
                scores_a = np.empty(0, dtype=np.float64)
            self._store(ids_a, values_a, scores_a, replace=True)
            if dims is not None:
                self._replacing_dims = True
                try:
                    self.dims = new_dims
                finally:
                    self._replacing_dims = False
            self._send_rows(proto.MODE_RESET, ids_a, values_a, scores_a, request=None)

    # --- internals ----------------------------------------------------------------------
    def _store(
        self, ids: np.ndarray, values: np.ndarray, scores: np.ndarray, *, replace: bool
    ) -> None:
        """Keep rows in arrays that grow geometrically (amortised O(1) per row)."""
        start = 0 if replace else self._n
        need = start + len(ids)
        d = values.shape[1]
        if replace or need > len(self._ids) or self._values.shape[1] != d:
            cap = max(need, 64) if replace else max(need, 2 * len(self._ids), 64)
            new_ids = np.empty(cap, dtype=np.float64)
            new_values = np.empty((cap, d), dtype=np.float64)
            new_scores = np.empty(cap, dtype=np.float64)
            if start:
                new_ids[:start] = self._ids[:start]
                new_values[:start] = self._values[:start]
                new_scores[:start] = self._scores[:start]
            self._ids, self._values, self._scores = new_ids, new_values, new_scores
        self._ids[start:need] = ids
        self._values[start:need] = values
        self._scores[start:need] = scores
        self._n = need

    def _send_rows(
        self,
        mode: str,
        ids: np.ndarray,
        values: np.ndarray,
        scores: np.ndarray,
        *,
        request: str | None,
    ) -> None:
        content = {
            proto.KEY_KIND: proto.MSG_ROWS,
            proto.KEY_PROTOCOL: proto.PROTOCOL_VERSION,
            proto.KEY_MODE: mode,
            proto.KEY_REQUEST: request,
            proto.KEY_N: len(ids),
            proto.KEY_COLUMNS: [d[proto.DIM_NAME] for d in self.dims],
            proto.KEY_TOTAL: self._n,
        }
        buffers = [
            np.ascontiguousarray(a, dtype=proto.BUFFER_DTYPE).tobytes()
            for a in (ids, values, scores)
        ]
        self.send(content, buffers)

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get(proto.KEY_KIND) != proto.MSG_SYNC:
            return
        request = content.get(proto.KEY_REQUEST)
        with self._lock:
            n = self._n
            self._send_rows(
                proto.MODE_RESET,
                self._ids[:n],
                self._values[:n],
                self._scores[:n],
                request=str(request) if request is not None else uuid.uuid4().hex,
            )

    @traitlets.validate("dims")
    def _valid_dims(self, proposal: dict[str, Any]) -> list[dict[str, Any]]:
        """Dims are dicts with a unique name, a known kind and a usable range."""
        return _check_dims(proposal["value"])

    @traitlets.observe("dims")
    def _dims_changed(self, change: dict[str, Any]) -> None:
        """Other dim names make the held rows' columns meaningless: drop them."""
        if self._replacing_dims:
            return
        old = [d[proto.DIM_NAME] for d in change["old"] or []]
        new = [d[proto.DIM_NAME] for d in change["new"]]
        if old == new:
            return
        with self._lock:
            if self._n == 0:
                return  # nothing to drop; the next append sizes the columns
            ids_a = np.empty(0, dtype=np.float64)
            values_a = np.empty((0, len(new)), dtype=np.float64)
            scores_a = np.empty(0, dtype=np.float64)
            self._store(ids_a, values_a, scores_a, replace=True)
            self._send_rows(proto.MODE_RESET, ids_a, values_a, scores_a, request=None)

def _check_dims(dims: Any) -> list[dict[str, Any]]:
    """Validate and normalise dim dicts (floats for min/max, str labels)."""
    if not isinstance(dims, (list, tuple)):
        raise ValueError(f"dims must be a list of dicts, got {type(dims).__name__}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, dim in enumerate(dims):
        if not isinstance(dim, dict):
            raise ValueError(f"dims[{i}] must be a dict, got {type(dim).__name__}")
        name = dim.get(proto.DIM_NAME)
        if not isinstance(name, str) or not name:
            raise ValueError(f"dims[{i}] needs a non-empty string 'name', got {name!r}")
        if name in seen:
            raise ValueError(f"dims: the name {name!r} appears twice; names must be unique")
        seen.add(name)
        kind = dim.get(proto.DIM_KIND)
        if kind not in proto.DIM_KINDS:
            raise ValueError(
                f"dims[{i}] ({name!r}): kind must be one of {', '.join(proto.DIM_KINDS)}, "
                f"got {kind!r}"
            )
        clean = dict(dim)
        if kind == proto.KIND_CHOICE:
            labels = dim.get(proto.DIM_LABELS)
            if not isinstance(labels, (list, tuple)) or not labels:
                raise ValueError(
                    f"dims[{i}] ({name!r}): a choice dim needs a non-empty 'labels' list"
                )
            clean[proto.DIM_LABELS] = [str(x) for x in labels]
            clean.setdefault(proto.DIM_MIN, 0.0)
            clean.setdefault(proto.DIM_MAX, float(len(labels) - 1))
        for key in (proto.DIM_MIN, proto.DIM_MAX):
            v = clean.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
                raise ValueError(f"dims[{i}] ({name!r}): '{key}' must be a number, got {v!r}")
            if not math.isfinite(float(v)):
                raise ValueError(f"dims[{i}] ({name!r}): '{key}' must be finite, got {v!r}")
            clean[key] = float(v)
        if clean[proto.DIM_MIN] > clean[proto.DIM_MAX]:
            lo, hi = clean[proto.DIM_MIN], clean[proto.DIM_MAX]
            raise ValueError(f"dims[{i}] ({name!r}): min {lo} is above max {hi}")
        if kind == proto.KIND_LOG and clean[proto.DIM_MIN] <= 0:
            raise ValueError(
                f"dims[{i}] ({name!r}): a log dim needs min > 0, got {clean[proto.DIM_MIN]}; "
                f"use kind 'linear' for ranges that reach 0"
            )
        out.append(clean)
    return out


def _check_rows(
    ids: Any, values: Any, scores: Any, dims: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays of float64 with the shapes the protocol needs, or a ValueError naming the
    argument at fault."""
    ids_a = _float_array(ids, "ids")
    if ids_a.ndim != 1:
        raise ValueError(f"ids must be 1-D (n,), got shape {ids_a.shape}")
    n = len(ids_a)
    if not np.all(np.isfinite(ids_a)) or np.any(ids_a != np.round(ids_a)):
        raise ValueError("ids must be integers (trial ids)")
    if n and np.max(np.abs(ids_a)) > _MAX_ID:
        raise ValueError(f"ids must be below 2**53 in size, got {np.max(np.abs(ids_a))}")
    d = len(dims)
    values_a = _float_array(values, "values")
    if values_a.ndim != 2 or values_a.shape != (n, d):
        raise ValueError(
            f"values must have shape (n, d) = ({n}, {d}) (one row per id, one column per "
            f"dim in dims' order), got shape {values_a.shape}"
        )
    scores_a = _float_array(scores, "scores")
    if scores_a.shape != (n,):
        raise ValueError(f"scores must have shape (n,) = ({n},), got shape {scores_a.shape}")
    for j, dim in enumerate(dims):
        if dim[proto.DIM_KIND] != proto.KIND_CHOICE or n == 0:
            continue
        col = values_a[:, j]
        col = col[np.isfinite(col)]
        k = len(dim[proto.DIM_LABELS])
        if np.any(col != np.round(col)) or np.any(col < 0) or np.any(col >= k):
            raise ValueError(
                f"values[:, {j}] ({dim[proto.DIM_NAME]!r}) is a choice column: it must hold "
                f"label indices 0..{k - 1} (or NaN)"
            )
    return ids_a, values_a, scores_a


def _float_array(x: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers (array-like of float): {exc}") from None
