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
    assert space["steps"].grid() == [0.0, 0.25, 0.5, 0.75, 1.0]   # both ends included
    assert space["ints"].grid() == [2, 6, 10]
    assert space["epochs"] == hw.Fixed(20)
    assert space["opt"] == hw.Fixed("adam")
    assert isinstance(space["flag"], hw.Bool)
    # a Talos dict is accepted where a Space is
    assert hw.Space.coerce({"a": [1, 2]}) == hw.Space(a=hw.Choice([1, 2]))


def test_log_steps_with_n_are_log_spaced():
    p = hw.Space.from_dict({"lr": (1e-4, 1e-1, 4)})["lr"]
    assert p.grid() == pytest.approx([1e-4, 0.034, 0.067, 0.1], rel=0.03)
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
