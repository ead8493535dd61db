"""One thread per serial reader: open by URL, drive the codec, hand raw reads on; reopen on failure.

A UHF module gets the multi-poll command when the port opens and again after ``repoll_after_s`` without
data. A port that fails is closed and reopened after a back-off of 0.5 s doubling up to 10 s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from gateway.config import ReaderConfig
from gateway.smoothing import RawRead
from readers.em4100 import Em4100Decoder, Em4100Variant
from readers.uhf import TagNotice, UhfDecoder, multi_poll
from silentcommerce.serialport import Port, PortError, open_port, read_chunk

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
RSSI_MIN, RSSI_MAX = -150.0, 30.0

RawSink = Callable[[list[RawRead]], None]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ReaderStats:
    """What an operator checks when a reader misbehaves (read by the stats logger, written by the loop)."""

    frames: int = 0
    bad_frames: int = 0
    reconnects: int = 0
    open: bool = False
    last_error: str = ""


class ReaderCodec(Protocol):
    """A codec bound to one reader's wiring: bytes in, raw reads out."""

    @property
    def bad_frames(self) -> int: ...
    def feed(self, data: bytes, at: datetime) -> list[RawRead]: ...
    def greeting(self) -> bytes: ...


def _antenna(config: ReaderConfig, default: int) -> int:
    """The one antenna a single-antenna reader reports on: the configured one if there is exactly one."""
    return next(iter(config.antennas)) if len(config.antennas) == 1 else default


class UhfCodec:
    def __init__(self, config: ReaderConfig) -> None:
        self._decoder = UhfDecoder()
        self._reader = config.name
        self._antenna = _antenna(config, 1)
        self._zone = config.zone_of(self._antenna)

    @property
    def bad_frames(self) -> int:
        return self._decoder.bad_frames

    def greeting(self) -> bytes:
        return multi_poll()

    def feed(self, data: bytes, at: datetime) -> list[RawRead]:
        reads = []
        for message in self._decoder.feed(data):
            if isinstance(message, TagNotice):
                reads.append(
                    RawRead(
                        reader=self._reader,
                        antenna=self._antenna,
                        zone=self._zone,
                        epc=message.epc.upper(),
                        rssi=min(max(float(message.rssi), RSSI_MIN), RSSI_MAX),
                        at=at,
                    )
                )
        return reads


class CardCodec:
    def __init__(self, config: ReaderConfig) -> None:
        variant: Em4100Variant = "rdm6300" if config.protocol == "rdm6300" else "id12la"
        self._decoder = Em4100Decoder(variant)
        self._reader = config.name
        self._antenna = _antenna(config, 0)
        self._zone = config.zone_of(self._antenna)

    @property
    def bad_frames(self) -> int:
        return self._decoder.bad_frames

    def greeting(self) -> bytes:
        return b""

    def feed(self, data: bytes, at: datetime) -> list[RawRead]:
        return [
            RawRead(reader=self._reader, antenna=self._antenna, zone=self._zone, uid=card.uid.upper(), at=at)
            for card in self._decoder.feed(data)
        ]


def make_codec(config: ReaderConfig) -> ReaderCodec:
    return UhfCodec(config) if config.protocol == "uhf-m100" else CardCodec(config)


class ReaderLoop:
    """The thread that owns one reader's port."""

    def __init__(
        self,
        config: ReaderConfig,
        sink: RawSink,
        stop: threading.Event,
        *,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.stats = ReaderStats()
        self._sink = sink
        self._stop = stop
        self._clock = clock
        self._monotonic = monotonic or time.monotonic
        self._bad_before = 0
        self._thread = threading.Thread(target=self._run, name=f"reader-{config.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        first = True
        while not self._stop.is_set():
            if not first:
                self.stats.reconnects += 1
            first = False
            try:
                port = open_port(self.config.url, self.config.effective_baudrate)
            except PortError as exc:
                self._failed(str(exc), backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            self.stats.open = True
            log.info("reader %s: opened %s", self.config.name, self.config.url)
            try:
                self._serve(port)
                backoff = BACKOFF_MIN_S
            except PortError as exc:
                self._failed(str(exc), backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            finally:
                self.stats.open = False
                try:
                    port.close()
                except Exception:  # closing a dead port must not end the loop
                    log.debug("reader %s: close failed", self.config.name, exc_info=True)

    def _failed(self, reason: str, backoff: float) -> None:
        self.stats.last_error = reason
        log.warning("reader %s: %s; retrying in %.1f s", self.config.name, reason, backoff)
        self._stop.wait(backoff)

    def _serve(self, port: Port) -> None:
        codec = make_codec(self.config)
        greeting = codec.greeting()
        last_data = self._monotonic()
        try:
            if greeting:
                self._write(port, greeting)
            while not self._stop.is_set():
                data = read_chunk(port)
                now = self._monotonic()
                if data:
                    last_data = now
                    reads = codec.feed(data, self._clock())
                    self.stats.bad_frames = self._bad_before + codec.bad_frames
                    if reads:
                        self.stats.frames += len(reads)
                        self._sink(reads)
                elif greeting and now - last_data >= self.config.repoll_after_s:
                    self._write(port, greeting)
                    last_data = now
        finally:
            self._bad_before += codec.bad_frames

    def _write(self, port: Port, data: bytes) -> None:
        try:
            port.write(data)
            port.flush()
        except (OSError, ValueError) as exc:
            raise PortError(f"serial write to {self.config.url!r} failed: {exc}") from exc
