"""Parameter values round-trip the store exactly, or are refused when the space is built."""

import json
import math

import numpy as np
import pytest

from hpo_widgets import values


@pytest.mark.parametrize("v", [None, True, 3, 2.5, "relu", (1, 2), [1, (2, 3)],
                               {"a": (1, "x")}, math.sqrt, json.JSONDecoder, np.float32(0.5)])
def test_round_trip_through_json(v):
    back = values.decode(json.loads(json.dumps(values.encode(v))))
    assert back == v and type(back) is type(values._plain_scalar(v))


def test_classes_and_functions_come_back_as_the_same_objects():
    stored = json.dumps(values.encode([json.JSONDecoder, math.sqrt]))
    assert "0x" not in stored                      # no memory address in the store
    cls, fn = values.decode(json.loads(stored))
    assert cls is json.JSONDecoder and fn is math.sqrt
    assert values.label(cls) == "JSONDecoder" and values.label(fn) == "sqrt"


def test_unstorable_values_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"units.*cannot be stored.*string key"):
        values.check(object(), "units")
    local = lambda x: x  # noqa: E731 - a lambda is the common unstorable function
    with pytest.raises(ValueError, match=r"act.*module level"):
        values.check(local, "act")
    with pytest.raises(ValueError, match="finite"):
        values.check(float("nan"), "lr")
