import datetime
import enum
from typing import Dict, List, Optional

import pytest

from orch import ParameterError
from orch._params import bind


class Side(enum.Enum):
    BUY = "buy"
    SELL = "sell"


def target(
    n: int,
    ratio: float = 1.0,
    force: bool = False,
    when: Optional[datetime.datetime] = None,
    symbols: List[str] = [],
    limits: Dict[str, int] = {},
    side: Side = Side.BUY,
    raw=None,
):
    pass


def test_values_are_converted_to_the_annotated_types():
    bound = bind(
        target,
        {
            "n": "3",
            "ratio": 2,
            "force": "true",
            "when": "2024-05-01T12:00:00Z",
            "symbols": ["BTC"],
            "limits": {"a": 1.0},
            "side": "sell",
            "raw": {"any": [1]},
        },
        "f",
    )
    assert bound["n"] == 3 and bound["ratio"] == 2.0 and bound["force"] is True
    assert bound["when"] == datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc)
    assert bound["symbols"] == ["BTC"] and bound["limits"] == {"a": 1}
    assert bound["side"] is Side.SELL and bound["raw"] == {"any": [1]}
    assert bind(target, {"n": 1, "when": None}, "f")["when"] is None


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n": "x"}, "parameter 'n' of flow 'f' must be int, got 'x' (str)"),
        ({"n": True}, "must be int, got True (bool)"),
        ({"n": 1, "symbols": "BTC"}, "parameter 'symbols' of flow 'f' must be list"),
        ({"n": 1, "symbols": [1]}, "parameter 'symbols[0]' of flow 'f' must be str"),
        ({"n": 1, "when": "yesterday"}, "parameter 'when' of flow 'f' must be datetime"),
        ({"n": 1, "side": "hold"}, "must be one of 'buy', 'sell'"),
        ({"n": 1, "force": "maybe"}, "parameter 'force' of flow 'f' must be bool"),
        ({"n": 1, "extra": 1}, "flow 'f' has no parameter 'extra'"),
        ({}, "flow 'f' needs parameter 'n'"),
    ],
)
def test_a_parameter_that_does_not_fit_is_refused_naming_it(params, message):
    with pytest.raises(ParameterError) as error:
        bind(target, params, "f")
    assert message in str(error.value)


def test_pydantic_models_are_validated_when_pydantic_is_installed():
    pydantic = pytest.importorskip("pydantic")

    class Window(pydantic.BaseModel):
        days: int

    def f(window: Window):
        pass

    assert bind(f, {"window": {"days": "7"}}, "f")["window"].days == 7
    with pytest.raises(ParameterError, match="parameter 'window'"):
        bind(f, {"window": {"days": "week"}}, "f")


def test_mappings_and_tuples_convert_their_items():
    from typing import Mapping, Tuple

    def f(weights: Mapping[str, float], pair: Tuple[int, str]):
        pass

    assert bind(f, {"weights": {"a": 1}, "pair": ["2", "x"]}, "f") == {"weights": {"a": 1.0}, "pair": (2, "x")}
    with pytest.raises(ParameterError, match=r"parameter \"weights\['a'\]\"|weights\['a'\]"):
        bind(f, {"weights": {"a": "heavy"}, "pair": [1, "x"]}, "f")


def test_kwargs_flows_take_unknown_parameters():
    def f(a: int, **rest):
        pass

    assert bind(f, {"a": 1, "b": 2}, "f") == {"a": 1, "b": 2}
