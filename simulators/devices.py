"""Virtual serial devices as state machines: bytes and time in, bytes out.

A device does no I/O and reads no clock. The hub (:mod:`simulators.hub`) feeds it what the gateway wrote
(:meth:`SerialDevice.receive`), asks it for what it sends on its own when it is due
(:meth:`SerialDevice.tick` at :meth:`SerialDevice.next_due`) and writes the answers to the PTY. The world
changes what a device senses (``set_field``, ``present``) from another thread; each device guards its state
with a lock and pokes the hub through ``wake`` so a new deadline is noticed at once.

Every byte comes from the ``readers`` encoders, so the simulators speak exactly what the gateway decodes.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar, Final, get_args

from readers.display import DisplayDecoder, DisplayScreen
from readers.em4100 import Em4100Variant, encode_card
from readers.uhf import (
    CMD_HARDWARE_VERSION,
    CMD_MULTI_POLL,
    CMD_SINGLE_POLL,
    CMD_STOP_MULTI_POLL,
    ERROR_NO_TAG,
    Command,
    UhfDecoder,
    encode_error,
    encode_response,
    encode_tag_notice,
)
from simulators.errors import SimulatorError
from simulators.noise import DeviceNoise

NOW: Final = float("-inf")
"""A deadline that is already due: the hub ticks the device at once."""

ERROR_INVALID_COMMAND: Final = 0x17
"""What the module answers to a command it does not know (per the usual M100 manual; unverified)."""

SETTING_COMMANDS: Final = frozenset({0x07, 0x0C, 0x11, 0x12, 0xAB, 0xAD, 0xB6})
"""Setting commands (region, select, baud, select mode, channel, hopping, TX power) acknowledged with 00."""


class SerialDevice:
    """Base of every virtual device: a name, a lock, a wake hook, and the three calls the hub makes."""

    def __init__(self, name: str, protocol: str, baudrate: int) -> None:
        self.name = name
        self.protocol = protocol
        self.baudrate = baudrate
        self.lock = threading.RLock()
        self.wake: Callable[[], None] = lambda: None

    def receive(self, data: bytes, now: float) -> bytes:
        """Bytes the gateway wrote; returns the device's immediate answer (may be empty)."""
        return b""

    def tick(self, now: float) -> bytes:
        """Called at or after :meth:`next_due`: what the device sends on its own now."""
        return b""

    def next_due(self) -> float | None:
        """When the device next wants :meth:`tick` (``NOW`` for at once), or None."""
        return None


class UhfReaderDevice(SerialDevice):
    """A Magic RF M100 UHF module: hardware version, single poll, multi-poll until stopped.

    The world sets the tags in its field with :meth:`set_field`. During a multi-poll, each inventory round
    (every 50–100 ms) sends one notice per tag, with RSSI jittered by ±``jitter_db`` and, if ``miss_rate``
    is above zero, a tag occasionally not heard; all of it from one seeded random generator.

    With ``noise`` (:class:`simulators.noise.DeviceNoise`, from a noise profile) a tag is heard with its own
    probability (liquid and metal items less often), tags standing in a neighbouring zone (``stray`` of
    :meth:`set_field`) are heard now and then at weak RSSI, and a notice is sometimes sent twice.
    """

    def __init__(
        self,
        name: str,
        *,
        seed: int = 0,
        round_interval: tuple[float, float] = (0.05, 0.1),
        jitter_db: int = 2,
        miss_rate: float = 0.0,
        hardware: str = "M100 26dBm V1.0",
        noise: DeviceNoise | None = None,
    ) -> None:
        super().__init__(name, "uhf-m100", 115200)
        if not 0 < round_interval[0] <= round_interval[1]:
            raise SimulatorError(f"{name}: round interval {round_interval!r} must be 0 < low <= high")
        if not 0.0 <= miss_rate < 1.0:
            raise SimulatorError(f"{name}: miss rate {miss_rate!r} must be in [0, 1)")
        self._random = random.Random(f"uhf:{name}:{seed}")
        self._round_interval = round_interval
        self._jitter_db = jitter_db
        self._miss_rate = miss_rate
        self._noise = noise
        if noise is not None:
            self._jitter_db = noise.jitter_db
        self._stray: dict[str, int] = {}
        self._hardware = hardware.encode("ascii")
        self._decoder = UhfDecoder()
        self._field: dict[str, int] = {}
        self._rounds_left = 0
        self._next_round: float | None = None
        self.commands_seen = 0

    # -- what the world does --------------------------------------------------------------------------

    def set_field(self, field: Mapping[str, float], stray: Iterable[str] | None = None) -> None:
        """The tags now in the antenna's field: EPC hex → mean RSSI in dBm; ``stray``: tags in neighbouring
        zones this antenna may overhear (only with a noise profile; None keeps the current ones)."""
        cleaned: dict[str, int] = {}
        for epc, rssi in field.items():
            if not -128 <= rssi <= 0:
                raise SimulatorError(f"{self.name}: RSSI {rssi!r} dBm for EPC {epc!r} is outside -128..0")
            cleaned[epc.upper()] = round(rssi)
        with self.lock:
            self._field = cleaned
            if stray is not None:
                self._stray = {epc.upper(): 0 for epc in stray}
        self.wake()

    @property
    def field(self) -> dict[str, int]:
        with self.lock:
            return dict(self._field)

    @property
    def polling(self) -> bool:
        with self.lock:
            return self._next_round is not None

    # -- what the hub does ----------------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> bytes:
        with self.lock:
            out = bytearray()
            for message in self._decoder.feed(data):
                if isinstance(message, Command):
                    self.commands_seen += 1
                    out += self._answer(message, now)
            return bytes(out)

    def tick(self, now: float) -> bytes:
        with self.lock:
            if self._next_round is None or now < self._next_round:
                return b""
            out = self._inventory_round()
            self._rounds_left -= 1
            if self._rounds_left <= 0:
                self._next_round = None
            else:
                self._next_round = max(self._next_round + self._interval(), now)
            return out

    def next_due(self) -> float | None:
        with self.lock:
            return self._next_round

    # -- protocol -------------------------------------------------------------------------------------

    def _answer(self, command: Command, now: float) -> bytes:
        if command.command == CMD_HARDWARE_VERSION:
            info = command.params[:1] or b"\x00"
            return encode_response(CMD_HARDWARE_VERSION, info + self._hardware)
        if command.command == CMD_SINGLE_POLL:
            return self._inventory_round() or encode_error(ERROR_NO_TAG)
        if command.command == CMD_MULTI_POLL:
            count = int.from_bytes(command.params[1:3], "big") if len(command.params) >= 3 else 10000
            self._rounds_left = count
            self._next_round = now if count > 0 else None
            return b""
        if command.command == CMD_STOP_MULTI_POLL:
            self._next_round = None
            self._rounds_left = 0
            return encode_response(CMD_STOP_MULTI_POLL, b"\x00")
        if command.command in SETTING_COMMANDS:
            return encode_response(command.command, b"\x00")
        return encode_error(ERROR_INVALID_COMMAND)

    def _inventory_round(self) -> bytes:
        out = bytearray()
        noise, rng = self._noise, self._random
        for epc in sorted(self._field):
            if self._miss_rate and rng.random() < self._miss_rate:
                continue
            if noise is not None and rng.random() >= noise.read_probability(epc):
                continue
            jitter = rng.randint(-self._jitter_db, self._jitter_db) if self._jitter_db else 0
            rssi = max(-128, min(0, self._field[epc] + jitter))
            notice = encode_tag_notice(epc, rssi)
            out += notice
            if noise is not None and noise.duplicate_probability and rng.random() < noise.duplicate_probability:
                out += notice  # the module repeats the frame on the serial line
        if noise is not None and noise.stray_probability:
            for epc in sorted(self._stray):
                if epc in self._field or rng.random() >= noise.stray_probability:
                    continue
                low, high = noise.stray_rssi
                out += encode_tag_notice(epc, max(-128, min(0, round(rng.uniform(low, high)))))
        return bytes(out)

    def _interval(self) -> float:
        low, high = self._round_interval
        return self._random.uniform(low, high)


class CardReaderDevice(SerialDevice):
    """A 125 kHz EM4100 reader: ``rdm6300`` re-sends the card's frame every 100–150 ms while the card is in
    the field; ``id12la`` sends it once per presentation."""

    VARIANTS: ClassVar[frozenset[str]] = frozenset(get_args(Em4100Variant))

    def __init__(
        self,
        name: str,
        variant: Em4100Variant = "rdm6300",
        *,
        seed: int = 0,
        repeat_interval: tuple[float, float] = (0.10, 0.15),
    ) -> None:
        super().__init__(name, variant, 9600)
        if variant not in self.VARIANTS:
            raise SimulatorError(
                f"{name}: card reader variant {variant!r} is not one of {sorted(self.VARIANTS)}"
            )
        self.variant = variant
        self._random = random.Random(f"card:{name}:{seed}")
        self._repeat_interval = repeat_interval
        self._frame: bytes | None = None
        self._uid: str | None = None
        self._next_send: float | None = None
        self.frames_sent = 0

    @property
    def card(self) -> str | None:
        """The UID (10 hex digits) of the card in the field, if any."""
        with self.lock:
            return self._uid

    def present(self, uid: str) -> None:
        """A card (UID as 10 hex digits, with or without ``UID:``) enters the field."""
        uid = uid.removeprefix("UID:").upper()
        try:
            frame = encode_card(uid, self.variant)
        except ValueError as exc:
            raise SimulatorError(f"{self.name}: cannot present card {uid!r}: {exc}") from exc
        with self.lock:
            self._uid, self._frame, self._next_send = uid, frame, NOW
        self.wake()

    def remove(self) -> None:
        """The card leaves the field: no more frames."""
        with self.lock:
            self._uid, self._frame, self._next_send = None, None, None
        self.wake()

    def tick(self, now: float) -> bytes:
        with self.lock:
            if self._frame is None or self._next_send is None or now < self._next_send:
                return b""
            self.frames_sent += 1
            if self.variant == "rdm6300":
                low, high = self._repeat_interval
                base = now if self._next_send == NOW else self._next_send
                self._next_send = max(base + self._random.uniform(low, high), now)
            else:
                self._next_send = None
            return self._frame

    def next_due(self) -> float | None:
        with self.lock:
            return self._next_send


class PoleDisplayDevice(SerialDevice):
    """A two-line customer pole display: decodes what the gateway sends, keeps the lines and a history of
    every screen it showed."""

    def __init__(self, name: str, *, width: int = 20) -> None:
        super().__init__(name, "pole-display", 9600)
        self.width = width
        self._decoder = DisplayDecoder()
        self._screen = DisplayScreen()
        self._history: list[tuple[str, ...]] = []

    @property
    def lines(self) -> tuple[str, ...]:
        with self.lock:
            return tuple(self._screen.lines)

    @property
    def history(self) -> list[tuple[str, ...]]:
        """Every distinct screen shown, oldest first."""
        with self.lock:
            return list(self._history)

    def receive(self, data: bytes, now: float) -> bytes:
        with self.lock:
            ops = self._decoder.feed(data)
            if ops:
                self._screen.apply(ops)
                shown = tuple(self._screen.lines)
                if not self._history or self._history[-1] != shown:
                    self._history.append(shown)
        return b""
