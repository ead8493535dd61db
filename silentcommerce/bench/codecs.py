"""Codec throughput: frames per second of one core for every reader protocol in ``readers/``.

Each decoder is fed a realistic stream: many frames back to back, cut into chunks of random size (1 to 512
bytes, what one ``in_waiting`` read of a busy port hands over), so frames straddle chunk boundaries as they
do on a wire. Time is the thread's CPU time, so the figure is per core whatever else the machine does.
The Modbus register maps and the pole display's encoder have no stream to cut: they are timed per call.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from readers.display import DisplayDecoder, show
from readers.em4100 import Em4100Decoder, Em4100Variant, encode_card
from readers.framing import FrameDecoder
from readers.modbus import decode_door, decode_temperature, encode_temperature
from readers.uhf import UhfDecoder, encode_tag_notice
from silentcommerce.bench.rig import BenchError

MAX_CHUNK = 512


@dataclass(frozen=True, slots=True)
class CodecResult:
    codec: str
    frames: int
    cpu_s: float

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.cpu_s if self.cpu_s > 0 else 0.0


def measure_codecs(frames: int, *, seed: int = 1) -> list[CodecResult]:
    rng = random.Random(seed)
    epcs = [f"{rng.getrandbits(96):024X}" for _ in range(256)]
    uids = [f"{rng.getrandbits(40):010X}" for _ in range(256)]
    lines = [(f"Total {rng.randint(1, 9999) / 100:7.2f} EUR", f"Thank you {i}") for i in range(64)]
    uhf = b"".join(encode_tag_notice(epcs[i % 256], rssi=-40 - i % 40) for i in range(frames))
    results = [_decode("uhf M100/R200 (tag notices)", UhfDecoder(), uhf, frames, rng)]
    variants: tuple[Em4100Variant, ...] = ("rdm6300", "id12la")
    for variant in variants:
        stream = b"".join(encode_card(uids[i % 256], variant) for i in range(frames))
        results.append(_decode(f"em4100 {variant}", Em4100Decoder(variant), stream, frames, rng))
    display = b"".join(show(lines[i % 64]) for i in range(frames))
    results.append(_decode("pole display (decode screens)", DisplayDecoder(), display, frames * 3, rng))
    results.append(_per_call("pole display (encode screens)", frames, lambda i: show(lines[i % 64])))
    results.append(_per_call("modbus register maps (temperature + door)", frames,
                             lambda i: (decode_temperature(encode_temperature(i % 400 / 10)), decode_door(i % 2 == 0))))
    return results


def _chunks(stream: bytes, rng: random.Random) -> list[bytes]:
    out, position = [], 0
    while position < len(stream):
        size = rng.randint(1, MAX_CHUNK)
        out.append(stream[position:position + size])
        position += size
    return out


def _decode(name: str, decoder: FrameDecoder[Any], stream: bytes, expected: int, rng: random.Random) -> CodecResult:
    chunks = _chunks(stream, rng)
    start = time.thread_time()
    decoded = sum(len(decoder.feed(chunk)) for chunk in chunks)
    cpu = time.thread_time() - start
    if decoded != expected or decoder.bad_frames:
        raise BenchError(f"{name}: decoded {decoded} of {expected} frames ({decoder.bad_frames} bad)")
    return CodecResult(name, decoded, cpu)


def _per_call(name: str, count: int, call: Callable[[int], object]) -> CodecResult:
    start = time.thread_time()
    for i in range(count):
        call(i)
    return CodecResult(name, count, time.thread_time() - start)
