"""The parallel-coordinates widget without a browser: state, messages, build output.

Widgets are created with a recording comm (the `comm` package's factory replaced), so
every message the kernel would send is captured as the front end would receive it.
A real-browser test of drawing and brushing lives in tests/browser/.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import traitlets

pytest.importorskip("anywidget")

import comm
from comm.base_comm import BaseComm

import hpo_widgets
from hpo_widgets.widgets import _protocol as proto
from hpo_widgets.widgets.parcoords import STATIC_JS, ParallelCoordinates

ROOT = Path(__file__).resolve().parents[1]

DIMS = [
    {"name": "lr", "kind": "log", "min": 1e-4, "max": 1e-1},
    {"name": "units", "kind": "int", "min": 16, "max": 512},
    {"name": "act", "kind": "choice", "min": 0, "max": 2, "labels": ["relu", "elu", "gelu"]},
]


class RecordingComm(BaseComm):
    """A comm that keeps what it would publish: (msg_type, data, buffers)."""

    def __init__(self, *args, log, **kwargs):
        self.log = log
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.log.append((msg_type, data, [bytes(b) for b in (buffers or [])]))


@pytest.fixture
def sent(monkeypatch):
    """Messages published by widgets created in this test."""
    log: list = []
    monkeypatch.setattr(comm, "create_comm", lambda **kw: RecordingComm(log=log, **kw))
    return log


def custom(log):
    """The custom messages in a log, as (content, buffers)."""
    return [
        (data["content"], bufs)
        for kind, data, bufs in log
        if kind == "comm_msg" and data.get("method") == "custom"
    ]


def decode(content, buffers):
    n, d = content[proto.KEY_N], len(content[proto.KEY_COLUMNS])
    ids, values, scores = (np.frombuffer(b, dtype=proto.BUFFER_DTYPE) for b in buffers)
    assert ids.shape == (n,) and values.shape == (n * d,) and scores.shape == (n,)
    return ids, values.reshape(n, d), scores


def rows(n, start=0, seed=0):
    rng = np.random.default_rng(seed + start)
    ids = np.arange(start, start + n)
    values = np.column_stack(
        [10 ** rng.uniform(-4, -1, n), rng.integers(16, 513, n), rng.integers(0, 3, n)]
    ).astype(float)
    return ids, values, rng.normal(size=n)


def from_front_end(widget, content):
    """Deliver a custom message to the widget as the kernel does when a view sends one."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def test_append_sends_one_message_holding_exactly_the_new_rows(sent):
    w = ParallelCoordinates(dims=DIMS, metric="val_loss")
    w.append(*rows(3))
    sent.clear()
    ids, values, scores = rows(2, start=3)
    w.append(ids, values, scores)
    msgs = custom(sent)
    assert len(msgs) == 1
    content, buffers = msgs[0]
    assert content == {
        "kind": "rows",
        "protocol": proto.PROTOCOL_VERSION,
        "mode": "append",
        "request": None,
        "n": 2,
        "columns": ["lr", "units", "act"],
        "total": 5,
    }
    assert len(buffers) == 3
    got_ids, got_values, got_scores = decode(content, buffers)
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got_values, values)
    np.testing.assert_array_equal(got_scores, scores)
    # numbers travel only in the buffers
    assert not any(isinstance(v, list) and v and isinstance(v[0], float) for v in content.values())
    assert w.n_rows == 5


def test_an_empty_append_sends_nothing(sent):
    w = ParallelCoordinates(dims=DIMS)
    sent.clear()
    w.append([], np.empty((0, 3)), [])
    assert custom(sent) == []
    assert w.n_rows == 0


def test_message_size_per_append_does_not_grow_with_rows_held(sent):
    w = ParallelCoordinates(dims=DIMS)

    def size_of_next_append(start):
        sent.clear()
        w.append(*rows(10, start=start))
        ((content, buffers),) = custom(sent)
        return len(json.dumps(content)) - len(str(content["total"])), sum(map(len, buffers))

    first = size_of_next_append(0)
    for k in range(20):  # 20,000 rows held
        w.append(*rows(1000, start=10 + 1000 * k))
    later = size_of_next_append(100_000)
    assert later == first
    assert first[1] == 10 * (1 + 3 + 1) * 8


def test_sync_answers_all_rows_to_the_asking_view(sent):
    w = ParallelCoordinates(dims=DIMS)
    parts = [rows(4), rows(3, start=4), rows(5, start=7)]
    for part in parts:
        w.append(*part)
    sent.clear()
    from_front_end(w, {"kind": "sync", "request": "view-1"})
    ((content, buffers),) = custom(sent)
    assert content["mode"] == "reset"
    assert content["request"] == "view-1"
    assert content["n"] == content["total"] == 12
    ids, values, scores = decode(content, buffers)
    np.testing.assert_array_equal(ids, np.concatenate([p[0] for p in parts]))
    np.testing.assert_array_equal(values, np.concatenate([p[1] for p in parts]))
    np.testing.assert_array_equal(scores, np.concatenate([p[2] for p in parts]))


def test_sync_of_an_empty_widget_and_unknown_messages(sent):
    w = ParallelCoordinates(dims=DIMS)
    sent.clear()
    from_front_end(w, {"kind": "something-else"})
    from_front_end(w, "not a dict")
    assert custom(sent) == []
    from_front_end(w, {"kind": "sync", "request": "v"})
    ((content, buffers),) = custom(sent)
    assert content["n"] == 0 and [len(b) for b in buffers] == [0, 0, 0]


def test_rows_property_keeps_everything_across_growth():
    w = ParallelCoordinates(dims=DIMS)
    parts = [rows(1, start=i) for i in range(300)] + [rows(700, start=300)]
    for part in parts:
        w.append(*part)
    ids, values, scores = w.rows
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, np.arange(1000))
    np.testing.assert_array_equal(values, np.concatenate([p[1] for p in parts]))
    np.testing.assert_array_equal(scores, np.concatenate([p[2] for p in parts]))
    assert len(w._ids) < 2 * 1000 + 64  # amortised growth, not one array per append


def test_reset_replaces_rows_and_can_change_dims(sent):
    w = ParallelCoordinates(dims=DIMS)
    w.append(*rows(5))
    sent.clear()
    ids, values, scores = rows(2, start=100)
    w.reset(ids, values, scores)
    ((content, buffers),) = custom(sent)
    assert (content["mode"], content["request"], content["n"], content["total"]) == (
        "reset", None, 2, 2,
    )
    np.testing.assert_array_equal(decode(content, buffers)[0], ids)
    assert w.n_rows == 2

    sent.clear()
    new_dims = [*DIMS, {"name": "dropout", "kind": "linear", "min": 0, "max": 0.5}]
    w.reset([7], [[1e-3, 32, 1, 0.25]], [0.5], dims=new_dims)
    assert [d["name"] for d in w.dims] == ["lr", "units", "act", "dropout"]
    assert w.n_rows == 1
    # the dims update goes out before the rows that need them
    kinds = [
        ("state" if data.get("method") == "update" else data.get("method"))
        for kind, data, _ in sent
        if kind == "comm_msg"
    ]
    assert kinds == ["state", "custom"]
    ((content, _),) = custom(sent)
    assert content["columns"] == ["lr", "units", "act", "dropout"]

    sent.clear()
    w.reset()
    ((content, buffers),) = custom(sent)
    assert content["n"] == 0 and w.n_rows == 0


def test_reset_needs_all_three_arrays_or_none():
    w = ParallelCoordinates(dims=DIMS)
    with pytest.raises(ValueError, match="values, scores missing"):
        w.reset([1])


def test_dims_with_other_names_drop_the_rows_held(sent):
    w = ParallelCoordinates(dims=DIMS)
    w.append(*rows(5))
    narrowed = [dict(DIMS[0], min=1e-3), *DIMS[1:]]
    w.dims = narrowed  # same names: the rows still fit
    assert w.n_rows == 5
    sent.clear()
    w.dims = DIMS[:2]
    assert w.n_rows == 0
    ((content, _),) = custom(sent)
    assert content["mode"] == "reset" and content["n"] == 0
    assert content["columns"] == ["lr", "units"]
    w.append([1], [[1e-3, 64]], [0.1])
    assert w.n_rows == 1


@pytest.mark.parametrize(
    ("ids", "values", "scores", "match"),
    [
        ([[1, 2]], [[1e-3, 32, 0], [1e-3, 32, 0]], [0, 0], r"ids must be 1-D"),
        ([1.5], [[1e-3, 32, 0]], [0], r"ids must be integers"),
        ([np.nan], [[1e-3, 32, 0]], [0], r"ids must be integers"),
        (["a"], [[1e-3, 32, 0]], [0], r"ids must be numbers"),
        ([1, 2], [[1e-3, 32, 0]], [0, 0], r"values must have shape \(n, d\) = \(2, 3\)"),
        ([1], [1e-3, 32, 0], [0], r"values must have shape"),
        ([1], [[1e-3, 32]], [0], r"values must have shape .*got shape \(1, 2\)"),
        ([1], [["x", 32, 0]], [0], r"values must be numbers"),
        ([1, 2], [[1e-3, 32, 0], [1e-3, 32, 0]], [0], r"scores must have shape \(n,\) = \(2,\)"),
        ([1], [[1e-3, 32, 0]], [[0]], r"scores must have shape"),
        ([1], [[1e-3, 32, 3]], [0], r"values\[:, 2\] \('act'\) is a choice column"),
        ([1], [[1e-3, 32, 0.5]], [0], r"label indices 0\.\.2"),
    ],
)
def test_bad_rows_give_a_value_error_naming_the_argument(ids, values, scores, match):
    w = ParallelCoordinates(dims=DIMS)
    with pytest.raises(ValueError, match=match):
        w.append(ids, values, scores)
    assert w.n_rows == 0


def test_missing_values_and_scores_are_allowed_as_nan(sent):
    w = ParallelCoordinates(dims=DIMS)
    w.append([1], [[np.nan, 32, np.nan]], [np.nan])
    assert w.n_rows == 1


@pytest.mark.parametrize(
    ("dims", "match"),
    [
        ([{"kind": "log", "min": 1, "max": 2}], r"non-empty string 'name'"),
        ([{"name": "x", "kind": "cubic", "min": 0, "max": 1}], r"kind must be one of"),
        ([{"name": "x", "kind": "log", "min": 0, "max": 1}], r"log dim needs min > 0"),
        ([{"name": "x", "kind": "linear", "min": 2, "max": 1}], r"min 2.0 is above max 1.0"),
        ([{"name": "x", "kind": "linear", "min": "a", "max": 1}], r"'min' must be a number"),
        ([{"name": "x", "kind": "linear", "min": 0, "max": np.inf}], r"'max' must be finite"),
        ([{"name": "x", "kind": "choice"}], r"needs a non-empty 'labels'"),
        ([{"name": "x", "kind": "int", "min": 0, "max": 1}] * 2, r"appears twice"),
    ],
)
def test_bad_dims_are_rejected_with_the_dim_named(dims, match):
    with pytest.raises(ValueError, match=match):
        ParallelCoordinates(dims=dims)


def test_dims_that_are_not_a_list_of_dicts_are_rejected_by_the_trait():
    with pytest.raises(traitlets.TraitError, match="expected a dict"):
        ParallelCoordinates(dims=["lr"])


def test_choice_dims_get_a_default_range_and_string_labels():
    w = ParallelCoordinates(dims=[{"name": "units", "kind": "choice", "labels": [32, 64]}])
    assert w.dims == [
        {"name": "units", "kind": "choice", "labels": ["32", "64"], "min": 0.0, "max": 1.0}
    ]


def test_selection_set_by_the_front_end_reaches_observers(sent):
    w = ParallelCoordinates(dims=DIMS, metric="val_loss")
    seen = []
    w.observe(lambda ch: seen.append(ch["new"]), "selection")
    brushed = {"lr": [0.001, 0.01], "act": ["elu"], "val_loss": [0.1, 0.3]}
    w._handle_msg(
        {"content": {"data": {"method": "update", "state": {"selection": brushed}}},
         "buffers": []}
    )
    assert w.selection == brushed
    assert seen == [brushed]


def test_appends_from_threads_replay_to_the_same_rows_in_a_view(sent):
    """Whatever the interleaving of appends (scan thread) and syncs (kernel thread), a
    view following the protocol ends up with exactly the rows the widget holds."""
    w = ParallelCoordinates(dims=DIMS)
    sent.clear()

    def writer(k):
        for i in range(50):
            w.append(*rows(3, start=10_000 * k + 3 * i))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    from_front_end(w, {"kind": "sync", "request": "late-view"})
    for t in threads:
        t.join()

    def replay(request):
        held = None  # None until this view's sync answer
        for content, buffers in custom(sent):
            ids = decode(content, buffers)[0]
            if held is None:
                if content["request"] == request:
                    held = list(ids)
            elif content["request"] in (None, request):
                held = list(ids) if content["mode"] == "reset" else held + list(ids)
            if held is not None:
                assert len(held) == content["total"]
        return held

    final_ids = w.rows[0].tolist()
    assert len(final_ids) == 600
    assert replay("late-view") == final_ids


def test_importing_the_package_does_not_import_the_widget():
    code = (
        "import sys, hpo_widgets\n"
        "bad = [m for m in ('anywidget', 'hpo_widgets.widgets.parcoords') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_built_front_end_is_in_the_package():
    assert STATIC_JS.is_file(), (
        f"{STATIC_JS} is missing: `pip install -e .` builds it (needs npm), or run "
        "`npm install && npm run build` in js/"
    )
    text = STATIC_JS.read_text()
    assert "hpo-parcoords" in text and "export" in text
    w = ParallelCoordinates(dims=DIMS)
    assert w._esm == text  # the widget ships the bundle, not the "not built" fallback


def test_python_and_js_versions_agree():
    package = json.loads((ROOT / "js" / "package.json").read_text())
    assert package["version"] == hpo_widgets.__version__


def test_js_lockfile_is_committed_beside_package_json():
    lock = json.loads((ROOT / "js" / "package-lock.json").read_text())
    assert lock["version"] == hpo_widgets.__version__
    declared = json.loads((ROOT / "js" / "package.json").read_text())["devDependencies"]
    for name, version in declared.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name


def test_protocol_constants_are_mirrored_in_types_ts():
    ts = (ROOT / "js" / "src" / "types.ts").read_text()
    consts = dict(re.findall(r'^export const (\w+) = (.+?);$', ts, flags=re.M))
    py = {
        k: v for k, v in vars(proto).items()
        if k.isupper() and isinstance(v, (str, int, tuple))
    }
    assert set(py) == set(consts), set(py) ^ set(consts)
    for name, value in py.items():
        if isinstance(value, tuple):
            got = json.loads(consts[name].removesuffix(" as const"))
            assert tuple(got) == value, name
        else:
            assert json.loads(consts[name]) == value, name
