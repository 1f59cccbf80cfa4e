"""The one shape of traffic weights: built, described, and in the JSON of a record."""

from __future__ import annotations

import pytest

from bluegreen.model import Colour, Weights, record_from_dict, record_to_dict
from tests.core.envs import environment
from tests.core.sim import new_record


def test_split_and_all_on_sum_to_100() -> None:
    assert Weights.split(Colour.GREEN, 10) == Weights(blue=90, green=10)
    assert Weights.all_on(Colour.BLUE) == Weights(blue=100, green=0)
    assert Weights.split(Colour.GREEN, 10).complete and not Weights().complete


def test_one_description_and_one_json_form() -> None:
    w = Weights(blue=90, green=10)
    assert w.describe() == "blue 90% / green 10%"
    assert w.to_json() == {"blue": 90, "green": 10}
    assert Weights.from_json(w.to_json()) == w
    assert Weights.from_json({}) is None  # nothing known
    assert Weights.from_json({"green": 100}) == Weights(blue=0, green=100)


@pytest.mark.parametrize("blue", [-10, 101, 50.5, True])
def test_a_weight_is_a_whole_percent(blue: object) -> None:
    with pytest.raises(ValueError, match="whole percent"):
        Weights(blue=blue, green=0)  # type: ignore[arg-type]


def test_the_record_keeps_weights_in_their_json_form() -> None:
    rec = new_record(environment(), "v2")
    d = record_to_dict(rec)
    assert d["weights"] == {"blue": 100, "green": 0}
    assert record_from_dict(d) == rec
    unknown = rec.replace(weights=None)
    assert record_to_dict(unknown)["weights"] == {} and record_from_dict(record_to_dict(unknown)) == unknown
