"""Register maps of the Modbus RTU sensors and relays; the RTU framing itself is pymodbus's job.

Demo device map, unit 1 on the "io" bus: holding register 0 = cooler temperature (signed int16 in tenths
of a degree), discrete input 0 = cooler door (1 = open), coil 0 = exit alarm relay, coil 1 = cooler lock,
coil 2 = the fast lane's gate relay (on: open).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from readers.errors import ReaderError

DEFAULT_UNIT: Final = 1
TEMPERATURE_REGISTER: Final = 0
DOOR_INPUT: Final = 0
ALARM_COIL: Final = 0
LOCK_COIL: Final = 1
GATE_COIL: Final = 2

DEFAULT_SCALE: Final = 0.1
INT16_MIN: Final = -0x8000
INT16_MAX: Final = 0x7FFF
REGISTER_MAX: Final = 0xFFFF
DECIMALS: Final = 6
"""Decoded values are rounded to this many decimals so 215 × 0.1 reads 21.5, not 21.500000000000004."""

DoorState = Literal["open", "closed"]
DOOR_STATES: Final[dict[bool, DoorState]] = {True: "open", False: "closed"}

PointKind = Literal["holding_register", "discrete_input", "coil"]


@dataclass(frozen=True, slots=True)
class Point:
    """One named point of a device's register map."""

    name: str
    kind: PointKind
    address: int


DEMO_MAP: Final[tuple[Point, ...]] = (
    Point("temperature", "holding_register", TEMPERATURE_REGISTER),
    Point("door", "discrete_input", DOOR_INPUT),
    Point("alarm", "coil", ALARM_COIL),
    Point("lock", "coil", LOCK_COIL),
)


def _check_scale(scale: float) -> None:
    if not (math.isfinite(scale) and scale > 0):
        raise ReaderError(f"register scale {scale!r} must be a positive finite number")


def decode_temperature(register: int, scale: float = DEFAULT_SCALE) -> float:
    """Degrees Celsius from a holding register (0–65535, read as a signed int16 times ``scale``)."""
    _check_scale(scale)
    if not 0 <= register <= REGISTER_MAX:
        raise ReaderError(f"register value {register!r} is outside 0..65535")
    signed = register - 0x10000 if register > INT16_MAX else register
    return round(signed * scale, DECIMALS)


def encode_temperature(celsius: float, scale: float = DEFAULT_SCALE) -> int:
    """The holding-register value (0–65535, two's complement) for ``celsius``; ReaderError out of range."""
    _check_scale(scale)
    if not math.isfinite(celsius):
        raise ReaderError(f"temperature {celsius!r} °C is not a finite number")
    steps = celsius / scale  # may overflow to infinity for a huge value: out of range like any other
    raw = round(steps) if math.isfinite(steps) else INT16_MAX + 1
    if not INT16_MIN <= raw <= INT16_MAX:
        lowest, highest = INT16_MIN * scale, INT16_MAX * scale
        raise ReaderError(
            f"temperature {celsius!r} °C is outside what the register holds at scale {scale}: "
            f"{lowest:g}..{highest:g} °C"
        )
    return raw & REGISTER_MAX


def decode_door(bit: bool) -> DoorState:
    """The door contact's state: a set input means open."""
    return DOOR_STATES[bool(bit)]
