"""The wire protocol of the parallel-coordinates widget, in one place.

The Python side (:mod:`hpo_widgets.widgets.parcoords`) and the front end
(``js/src/types.ts``) must agree on every name below; ``types.ts`` mirrors this
module constant for constant, and ``tests/test_parcoords.py`` checks that they match.
Change both together and bump :data:`PROTOCOL_VERSION`.

State that is small and changes rarely travels as synced traits (:data:`TRAITS`).
Rows (one per finished trial) travel as custom messages whose numbers ride in binary
buffers, never in JSON, so that an update's size depends on the rows it carries, not on
how many rows the widget already holds.

Messages
--------
Front end -> kernel::

    {"kind": "sync", "request": "<id chosen by the view>"}

sent by every view when it renders (and again if it finds it has missed rows). The
kernel answers with all rows it holds, as a ``rows`` message in ``reset`` mode whose
``request`` echoes the view's id.

Kernel -> front end::

    {"kind": "rows", "protocol": 1, "mode": "append" | "reset", "request": str | None,
     "n": int, "columns": [dim name, ...], "total": int}
    buffers = [ids, values, scores]      # little-endian float64 each

- ``ids``: ``n`` trial ids (integers, exact up to 2**53).
- ``values``: ``n * len(columns)`` numbers, row-major: row ``i``'s value for
  ``columns[j]`` is ``values[i * len(columns) + j]``. A choice column holds the index
  into that dim's ``labels``. NaN (or any non-finite number) means "no value": the
  line has a gap there.
- ``scores``: ``n`` scores of the metric; non-finite means "no score".
- ``mode``: ``append`` adds the rows after those held; ``reset`` replaces all rows.
- ``request``: for the answer to a ``sync``, the id that view sent; ``None`` for updates
  every view applies. A view applies nothing until it has its own sync answer (that
  answer already holds every row sent before it), and after that ignores the sync
  answers meant for other views.
- ``total``: how many rows the kernel holds after this message. A view whose count
  disagrees has missed a message and asks for a ``sync`` again.
- ``columns``: the dim names of the ``values`` columns, so the front end maps columns to
  axes by name even while a ``dims`` change is still in flight.
"""

from __future__ import annotations

PROTOCOL_VERSION = 1
"""Bumped on any change to the messages below; sent in every ``rows`` message."""

# --- synced traits ------------------------------------------------------------------
TRAIT_DIMS = "dims"
"""List of dim dicts (keys below), one axis each, in axis order (the score axis is last)."""
TRAIT_METRIC = "metric"
"""Name of the score shown on the last axis; also the ``selection`` key of that axis."""
TRAIT_MINIMIZE = "minimize"
"""True when a lower score is better; the best end of the score axis is drawn on top."""
TRAIT_SELECTION = "selection"
"""Set by the front end at the end of a brush: ``{dim name: [lo, hi]}`` in data units
(real values on log axes), or ``{dim name: [label, ...]}`` for a choice dim; the score
axis uses the metric's name. A missing key means no brush on that axis."""
TRAITS = (TRAIT_DIMS, TRAIT_METRIC, TRAIT_MINIMIZE, TRAIT_SELECTION)

# --- keys of one dim dict -------------------------------------------------------------
DIM_NAME = "name"
"""Unique name of the dim; the axis' ``data-dim`` attribute and its ``selection`` key."""
DIM_KIND = "kind"
"""One of :data:`DIM_KINDS`."""
DIM_MIN = "min"
"""Low end of the search range (real value); the axis also stretches to cover the data."""
DIM_MAX = "max"
"""High end of the search range (real value)."""
DIM_LABELS = "labels"
"""Choice dims only: the labels, in index order."""

KIND_LOG = "log"
"""Numeric, spaced in log10 units, ticks labelled with real values; needs ``min > 0``."""
KIND_LINEAR = "linear"
"""Numeric, linear spacing."""
KIND_INT = "int"
"""Integer, linear spacing, integer ticks."""
KIND_CHOICE = "choice"
"""Categorical: values are indices into ``labels``, one band per label."""
DIM_KINDS = (KIND_LOG, KIND_LINEAR, KIND_INT, KIND_CHOICE)

# --- custom messages ------------------------------------------------------------------
KEY_KIND = "kind"
"""Every custom message has it: :data:`MSG_SYNC` or :data:`MSG_ROWS`."""
MSG_SYNC = "sync"
"""Front end -> kernel: "send me every row" (keys: ``kind``, ``request``)."""
MSG_ROWS = "rows"
"""Kernel -> front end: rows in binary buffers (keys below)."""

KEY_PROTOCOL = "protocol"
""":data:`PROTOCOL_VERSION` of the sender."""
KEY_MODE = "mode"
""":data:`MODE_APPEND` or :data:`MODE_RESET`."""
KEY_REQUEST = "request"
"""In ``sync``: the view's id. In ``rows``: that id echoed, or None for every view."""
KEY_N = "n"
"""Number of rows in this message."""
KEY_COLUMNS = "columns"
"""Dim names of the value columns, in column order."""
KEY_TOTAL = "total"
"""Rows held by the kernel after this message."""

MODE_APPEND = "append"
"""Add the rows after those held."""
MODE_RESET = "reset"
"""Replace all rows held."""

BUFFERS = ("ids", "values", "scores")
"""Order of the binary buffers of a ``rows`` message."""
BUFFER_DTYPE = "<f8"
"""Every buffer is little-endian float64 (what ``Float64Array`` reads in a browser)."""
