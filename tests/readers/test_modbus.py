"""Register maps: the temperature register is a signed int16 in tenths of a degree; the door input is open/closed."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers import ReaderError, decode_door, decode_temperature, encode_temperature, modbus

TABLE = [
    (0, 0.0),
    (215, 21.5),
    (45, 4.5),
    (0xFF85, -12.3),
    (0x7FFF, 3276.7),
    (0x8000, -3276.8),
    (0xFFFF, -0.1),
]


@pytest.mark.parametrize(("register", "celsius"), TABLE)
def test_temperature_register_table(register: int, celsius: float) -> None:
    assert decode_temperature(register) == celsius
    assert encode_temperature(celsius) == register


def test_other_scales() -> None:
    assert decode_temperature(1234, scale=0.01) == 12.34
    assert decode_temperature(0xFFFB, scale=1.0) == -5.0
    assert encode_temperature(-5.0, scale=1.0) == 0xFFFB


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: encode_temperature(3300.0), "outside what the register holds"),
        (lambda: encode_temperature(-3276.9), "-3276.9"),
        (lambda: encode_temperature(math.nan), "not a finite number"),
        (lambda: encode_temperature(20.0, scale=0.0), "scale 0.0"),
        (lambda: decode_temperature(70000), "70000"),
        (lambda: decode_temperature(-1), "-1"),
    ],
)
def test_out_of_range_values_are_refused_with_the_value(call: object, message: str) -> None:
    with pytest.raises(ReaderError, match=message):
        call()  # type: ignore[operator]


def test_door_contact() -> None:
    assert decode_door(True) == "open"
    assert decode_door(False) == "closed"


def test_demo_map_matches_the_shared_device_map() -> None:
    assert {(point.name, point.kind, point.address) for point in modbus.DEMO_MAP} == {
        ("temperature", "holding_register", 0),
        ("door", "discrete_input", 0),
        ("alarm", "coil", 0),
        ("lock", "coil", 1),
    }
    assert modbus.DEFAULT_UNIT == 1


@settings(max_examples=200)
@given(st.integers(0, 0xFFFF), st.sampled_from([0.1, 0.01, 0.5, 1.0]))
def test_every_register_value_round_trips(register: int, scale: float) -> None:
    assert encode_temperature(decode_temperature(register, scale), scale) == register


@settings(max_examples=200)
@given(st.floats(-3000.0, 3000.0))
def test_encoding_is_accurate_to_half_a_step(celsius: float) -> None:
    assert abs(decode_temperature(encode_temperature(celsius)) - celsius) <= 0.05 + 1e-9
