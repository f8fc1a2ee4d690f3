"""Space: parameters, Talos-style dicts, validation, grids, encoding, narrowing."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpo_widgets as hw
from hpo_widgets.space import MAX_GRID_SIZE


def test_contract_space_samples_every_param_within_bounds():
    space = hw.Space(
        lr=hw.Float(1e-4, 1e-1, log=True),
        units=hw.Int(16, 512, log=True),
        dropout=hw.Float(0.0, 0.5),
        activation=hw.Choice(["relu", "elu", "gelu"]),
        batch_norm=hw.Bool(),
        epochs=hw.Fixed(20),
    )
    rng = np.random.default_rng(0)
    for _ in range(500):
        p = space.sample(rng)
        assert space.contains(p)
        assert 1e-4 <= p["lr"] <= 1e-1
        assert isinstance(p["units"], int) and 16 <= p["units"] <= 512
        assert p["activation"] in ("relu", "elu", "gelu")
        assert p["batch_norm"] in (False, True)
        assert p["epochs"] == 20
    assert space.tunable == ["lr", "units", "dropout", "activation", "batch_norm"]


def test_log_float_is_uniform_in_log_space():
    p = hw.Float(1e-4, 1e-0, log=True)
    xs = np.array([p.sample(np.random.default_rng(i)) for i in range(4000)])
    # a quarter of the draws in each decade
    counts = np.histogram(np.log10(xs), bins=[-4, -3, -2, -1, 0])[0]
    assert counts.min() > 850, counts


def test_int_cells_are_equally_likely():
    p = hw.Int(1, 4)
    rng = np.random.default_rng(1)
    draws = [p.sample(rng) for _ in range(4000)]
    counts = np.bincount(draws)[1:]
    assert counts.min() > 900, counts


def test_from_dict_talos_semantics():
    space = hw.Space.from_dict({
        "lr": (1e-4, 1e-1, "log"),
        "units": [32, 64, 128],
        "dropout": (0.0, 0.5),
        "layers": (1, 4),
        "steps": (0.0, 1.0, 5),
        "ints": (2, 10, 3),
        "epochs": 20,
        "opt": "adam",
        "flag": [True, False],
    })
    assert space["lr"] == hw.Float(1e-4, 1e-1, log=True)
    assert space["units"] == hw.Choice([32, 64, 128])
    assert space["dropout"] == hw.Float(0.0, 0.5)
    assert space["layers"] == hw.Int(1, 4)
    # Talos's (low, high, n): numpy.arange(low, high, (high - low) / n), high excluded
    assert space["steps"].grid() == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert space["ints"].grid() == [2, 4, 7]
    assert space["epochs"] == hw.Fixed(20)
    assert space["opt"] == hw.Fixed("adam")
    assert isinstance(space["flag"], hw.Bool)
    # a Talos dict is accepted where a Space is
    assert hw.Space.coerce({"a": [1, 2]}) == hw.Space(a=hw.Choice([1, 2]))


def test_log_steps_with_n_are_log_spaced():
    q = hw.Float(1e-4, 1e-1, log=True, num=4)
    assert q.grid() == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])


@pytest.mark.parametrize(("make", "words"), [
    (lambda: hw.Float(1.0, 1.0), ["low", "below high"]),
    (lambda: hw.Int(5, 2), ["low", "high"]),
    (lambda: hw.Float(0.0, 1.0, log=True), ["log", "low > 0"]),
    (lambda: hw.Float(-1.0, 1.0, log=True), ["log"]),
    (lambda: hw.Float(math.nan, 1.0), ["finite"]),
    (lambda: hw.Float(0.0, math.inf), ["finite"]),
    (lambda: hw.Choice([]), ["empty", "at least one"]),
    (lambda: hw.Float(0.0, 1.0, step=2.0), ["step", "larger than the range"]),
    (lambda: hw.Int(1, 3, step=5), ["step", "larger than the range"]),
    (lambda: hw.Int(1.5, 3), ["whole number"]),
])
def test_bad_parameters_are_refused_with_a_fix(make, words):
    with pytest.raises(ValueError) as e:
        make()
    for w in words:
        assert w in str(e.value)


def test_bad_entries_name_the_parameter():
    with pytest.raises(ValueError, match="'lr'.*below high"):
        hw.Space(lr=(0.1, 0.01))
    with pytest.raises(ValueError, match="'units'.*empty"):
        hw.Space.from_dict({"units": []})
    with pytest.raises(ValueError, match="'lr'.*log.*low > 0"):
        hw.Space.from_dict({"lr": (0, 1.0, "log")})
    with pytest.raises(ValueError, match="'x'.*'log'"):
        hw.Space.from_dict({"x": (0, 1.0, "lg")})
    with pytest.raises(TypeError, match="'x'.*number"):
        hw.Space.from_dict({"x": ("a", 1.0)})
    with pytest.raises(ValueError, match="identifier"):
        hw.Space({"bad name": [1, 2]})
    with pytest.raises(TypeError, match="Space or a dict"):
        hw.Space.coerce([1, 2])


def test_grid_size_is_exact_and_known_up_front():
    space = hw.Space(a=hw.Int(1, 10), b=hw.Choice(list("xyz")), c=hw.Bool(), d=hw.Fixed(1))
    assert space.grid_size() == 60
    pts = list(space.grid())
    assert len(pts) == 60
    assert len({tuple(sorted(p.items())) for p in pts}) == 60
    assert hw.Space(x=hw.Float(0, 1)).grid_size() is None


def test_huge_grid_is_refused_quickly_without_overflow():
    space = hw.Space({f"p{i}": hw.Int(0, 10**6) for i in range(40)})
    size = space.grid_size()
    assert size == (10**6 + 1) ** 40     # exact, no overflow
    with pytest.raises(ValueError, match="more than the .* a grid search will enumerate"):
        next(space.grid())
    assert MAX_GRID_SIZE >= 10**5


def test_grid_refuses_continuous_params_with_a_fix():
    with pytest.raises(ValueError, match=r"'lr'.*continuous.*num="):
        list(hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), u=[1, 2]).grid())


def test_encode_decode_round_trip():
    space = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), units=hw.Int(16, 512, log=True),
                     act=hw.Choice(["relu", "elu", "gelu"]), bn=hw.Bool(), e=hw.Fixed(3),
                     k=hw.Int(1, 9, step=2))
    rng = np.random.default_rng(3)
    for _ in range(200):
        p = space.sample(rng)
        u = space.encode(p)
        assert u.shape == (5,)
        assert np.all((u >= 0) & (u <= 1))
        assert space.decode(u) == pytest.approx(p)
    assert space.decode([0, 0, 0, 0, 0])["lr"] == pytest.approx(1e-4)
    assert space.decode([1, 1, 1, 1, 1])["lr"] == pytest.approx(1e-1)
    assert space.decode([0.5, 0.5, 0.5, 0.5, 0.5])["lr"] == pytest.approx(10 ** -2.5)


def test_encode_outside_the_space_maps_outside_the_cube():
    p = hw.Float(0.0, 1.0)
    assert p.encode(2.0) == pytest.approx(2.0)
    assert math.isnan(hw.Choice(["a", "b"]).encode("c"))


def test_narrowing_returns_a_new_space_and_keeps_the_old():
    space = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), act=["relu", "elu", "gelu"],
                     units=hw.Int(16, 512))
    new = space.narrow(lr=(1e-3, 1e-2), act=["relu", "elu"], units=(32, 64))
    assert new["lr"] == hw.Float(1e-3, 1e-2, log=True)
    assert new["act"].values == ["relu", "elu"]
    assert new["units"] == hw.Int(32, 64)
    assert space["lr"] == hw.Float(1e-4, 1e-1, log=True)   # immutable
    fixed = space.fix(act="relu")
    assert fixed["act"] == hw.Fixed("relu")
    assert "act" not in fixed.tunable
    with pytest.raises(ValueError, match="'act'.*'tanh' is not one of"):
        space.narrow(act=["tanh"])
    with pytest.raises(ValueError, match="'lr'.*below high"):
        space.narrow(lr=(1e-2, 1e-3))
    with pytest.raises(KeyError, match="no parameter 'nope'"):
        space.narrow(nope=(1, 2))


def test_space_json_round_trip():
    space = hw.Space(lr=hw.Float(1e-4, 1e-1, log=True), u=hw.Int(1, 9, step=2),
                     a=["x", "y"], b=hw.Bool(), f=hw.Fixed(None), s=(0.0, 1.0, 3))
    assert hw.Space.from_json(space.to_json()) == space


def test_narrowing_a_discrete_range_keeps_its_own_values():
    k = hw.Float(0.0, 1.0, num=5)
    assert k.narrow(0.2, 0.8).grid() == pytest.approx([0.25, 0.5, 0.75])
    lr = hw.Float(1e-4, 1e-1, log=True, num=4)
    assert lr.narrow(5e-4, 0.05).grid() == pytest.approx([1e-3, 1e-2])
    s = hw.Int(0, 20, step=5)
    assert s.narrow(3, 16).grid() == [5, 10, 15]
    assert hw.Float(0.0, 1.0, num=5).narrow(0.3, 0.6) == hw.Fixed(0.5)
    with pytest.raises(ValueError, match="no value"):
        hw.Float(0.0, 1.0, num=3).narrow(0.1, 0.4)


# -- Talos dicts search what they searched in Talos -------------------------------------------
@pytest.mark.parametrize(("spec", "expected"), [
    # Talos's shipped dicts: the values Talos 2.0 itself expands them to
    ((0, 0.5, 5), [0.0, 0.1, 0.2, 0.3, 0.4]),
    ((0.5, 5, 10), [0.5, 0.95, 1.4, 1.85, 2.3, 2.75, 3.2, 3.65, 4.1, 4.55]),
    ((2, 30, 10), [2, 4, 7, 10, 13, 16, 18, 21, 24, 27]),
    ((1, 5, 8), [1, 2, 3, 4]),                  # ints truncated, repeats dropped
    ((1e-4, 1e-1, 4), [1e-4, 0.025075, 0.05005, 0.075025]),   # linear, as in Talos
])
def test_talos_tuple_is_numpy_arange_with_high_excluded(spec, expected):
    low, high, n = spec
    p = hw.Space.from_dict({"x": spec})["x"]
    assert p.grid() == pytest.approx(expected)
    talos = np.arange(low, high, (high - low) / n)        # bit for bit what Talos searches
    if isinstance(low, int) and isinstance(high, int):
        assert p.grid() == np.unique(talos.astype(int)).tolist()
        assert all(type(v) is int for v in p.grid())
    else:
        assert p.grid() == talos.tolist()
    # the same dict is read the same way wherever a dict is accepted
    assert hw.Space.coerce({"x": spec})["x"] == p
    assert hw.Space(x=spec)["x"] == p


def test_evenly_spaced_with_both_ends_stays_available_by_name():
    assert hw.Float(0.0, 0.5, num=6).grid() == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert hw.Space(x=hw.Float(0.0, 0.5, num=6))["x"].grid()[-1] == 0.5
    assert hw.Space.from_dict({"x": (2, 30, 1)})["x"] == hw.Fixed(2)


@pytest.mark.parametrize(("make", "words"), [
    (lambda: hw.Float(1, 10, log="no"), ["log", "True or False"]),
    (lambda: hw.Int(1, 10, log=1), ["log", "True or False"]),
    (lambda: hw.Choice([1, 1.0]), ["1 and 1.0", "once"]),
    (lambda: hw.Choice([object(), 2]), ["Choice value", "cannot be stored", "string key"]),
    (lambda: hw.Fixed(object()), ["Fixed value", "cannot be stored", "string key"]),
    (lambda: hw.Space(opt=[object(), 2]), ["'opt'", "cannot be stored"]),
    (lambda: hw.Space(act=lambda x: x), ["'act'", "module level"]),
    (lambda: hw.Space.from_dict({"lr": (0.5, 0.1, 4)}), ["'lr'", "below high"]),
])
def test_values_that_cannot_round_trip_are_refused_when_built(make, words):
    with pytest.raises((TypeError, ValueError)) as e:
        make()
    for w in words:
        assert w in str(e.value)


def test_true_and_1_stay_two_choices():
    assert hw.Choice([True, 1]).grid() == [True, 1]


def test_classes_functions_and_tuples_come_back_from_json_as_themselves():
    import collections
    import json as _json

    space = hw.Space.from_dict({"act": [math.sqrt, math.floor], "kind": [collections.OrderedDict,
                                dict], "shape": [(8, 8), (16, 16)], "loss": math.exp})
    back = hw.Space.from_json(space.to_json())
    assert back == space
    assert back["act"].values[0] is math.sqrt and back["kind"].values[0] is collections.OrderedDict
    assert back["shape"].values == [(8, 8), (16, 16)]
    assert back["loss"].value is math.exp
    assert "0x" not in space.to_json()          # no memory addresses in the store
    assert _json.loads(space.to_json())["act"]["values"][0] == {"$ref": "math:sqrt"}
    assert repr(space["act"]) == \
        "Choice(values=[<built-in function sqrt>, <built-in function floor>])"
    # narrowing and fixing keep the objects themselves
    assert space.narrow(act=[math.floor])["act"] == hw.Fixed(math.floor)
    assert space.narrow(act=[math.floor])["act"].value is math.floor
    assert space.sample(seed=1)["act"] in (math.sqrt, math.floor)
