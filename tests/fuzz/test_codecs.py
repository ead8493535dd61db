"""10,000 fuzzed streams per serial codec: bit flips, truncation, length lies, bad checksums, garbage between
frames and any chunking. No exception escapes, every byte ends up in a message or a counter, every broken
frame is counted, and the good frames around the broken ones are all decoded.

The bulk is a seeded loop rather than hypothesis: 10,000 hypothesis examples per codec cost minutes on a
shared machine, the loop a few seconds, and it replays the same cases everywhere. A failure names its seed,
so ``case(codec, seed)`` rebuilds it. The same generator also runs under hypothesis, drawing from a
``random.Random`` that hypothesis controls, so a failure there shrinks to a short stream.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers import ReaderError, display, uhf
from readers.display import ClearScreen, DisplayDecoder, DisplayScreen, Initialise, WriteLine
from readers.em4100 import Em4100Decoder, Em4100Variant, card_checksum, encode_card
from readers.epc import RawEpc, Sgtin, decode_epc
from readers.framing import FrameDecoder
from readers.modbus import decode_temperature, encode_temperature
from readers.uhf import FRAME_TYPE_COMMAND, MAX_FRAME, UhfDecoder
from tests.readers.streams import uhf_frame_length

CASES = 10_000
BASE_SEED = 20_260_301


@dataclass(frozen=True)
class Codec:
    """What the fuzz loop needs to know about one stream codec."""

    name: str
    decoder: Callable[[], FrameDecoder[Any]]
    starts: bytes
    """Bytes a frame can begin with."""
    longest: int
    """Longest frame the decoder waits for; that many non-start bytes after a stream settle every candidate."""
    good: Callable[[random.Random], bytes]
    used: Callable[[Any], int]
    """Stream bytes a decoded item took."""
    lie: Callable[[random.Random, bytes], bytes]
    """The frame with a length that does not match what it carries."""
    corrupt: Callable[[random.Random, bytes], bytes]
    """The frame with a wrong check (checksum; for the display, which has none, a wrong selector)."""


def _uhf_good(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        epc = rng.randbytes(2 * rng.randint(1, 8)).hex().upper()
        return uhf.encode_tag_notice(epc, rng.randint(-128, 127))
    if kind == 1:
        return uhf.encode_error(rng.randrange(256))
    if kind == 2:
        return uhf.encode_response(rng.randrange(255), rng.randbytes(rng.randint(0, 24)))
    return uhf.encode_frame(FRAME_TYPE_COMMAND, rng.randrange(256), rng.randbytes(rng.randint(0, 24)))


def _uhf_lie(rng: random.Random, frame: bytes) -> bytes:
    declared = int.from_bytes(frame[3:5], "big")
    lie = rng.choice([declared + rng.randint(1, 40), max(0, declared - rng.randint(1, 5)), rng.randrange(65536)])
    if lie == declared:
        lie += 1
    return frame[:3] + (lie & 0xFFFF).to_bytes(2, "big") + frame[5:]


def _uhf_corrupt(rng: random.Random, frame: bytes) -> bytes:
    return frame[:-2] + bytes([(frame[-2] + rng.randint(1, 255)) & 0xFF]) + frame[-1:]


def _card_good(variant: Em4100Variant) -> Callable[[random.Random], bytes]:
    def good(rng: random.Random) -> bytes:
        frame = encode_card(rng.randbytes(5).hex().upper(), variant)
        if variant == "id12la" and rng.random() < 0.2:
            frame = frame[:-3] + b"\n\r\x03"  # the other ending ID-12LA drivers report
        return frame

    return good


def _card_lie(rng: random.Random, frame: bytes) -> bytes:
    at = rng.randint(1, 12)
    if rng.random() < 0.5:
        return frame[:at] + frame[at + 1 :]  # a digit lost
    return frame[:at] + rng.choice(b"0123456789ABCDEF").to_bytes(1, "big") + frame[at:]  # a digit too many


def _card_corrupt(rng: random.Random, frame: bytes) -> bytes:
    uid = frame[1:11].decode()
    wrong = b"%02X" % ((card_checksum(uid) + rng.randint(1, 255)) & 0xFF)
    return frame[:11] + wrong + frame[13:]


_TEXT = bytes(range(0x20, 0x7F))


def _display_good(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return display.initialise()
    if kind == 1:
        return display.clear()
    text = bytes(rng.choice(_TEXT) for _ in range(rng.randint(0, 24))).decode()
    return display.write_line(rng.choice([1, 2]), text, width=rng.randint(1, display.MAX_TEXT))


def _display_lie(rng: random.Random, frame: bytes) -> bytes:
    if frame.startswith(display.WRITE_PREFIX):
        return frame[:-1]  # the CR that ends the text never comes
    return frame + rng.choice([b"\x1b", b"\x1bQ"])  # a command cut after its first bytes


def _display_corrupt(rng: random.Random, frame: bytes) -> bytes:
    return b"\x1b" + rng.choice(b"ACDPRXYZ!1p\x00\xff").to_bytes(1, "big") + frame[2:]


def _display_used(op: Any) -> int:
    if isinstance(op, WriteLine):
        return len(display.WRITE_PREFIX) + 1 + len(op.text) + 1
    return {Initialise: 2, ClearScreen: 1}[type(op)]


CODECS = [
    Codec("uhf", UhfDecoder, b"\xbb", MAX_FRAME, _uhf_good, uhf_frame_length, _uhf_lie, _uhf_corrupt),
    *(
        Codec(
            variant, lambda variant=variant: Em4100Decoder(variant), b"\x02", Em4100Decoder(variant).frame_length,
            _card_good(variant), lambda _card, variant=variant: Em4100Decoder(variant).frame_length,
            _card_lie, _card_corrupt,
        )
        for variant in ("rdm6300", "id12la")
    ),
    Codec(
        "display", DisplayDecoder, b"\x1b\x0c", len(display.WRITE_PREFIX) + 1 + display.MAX_TEXT + 1,
        _display_good, _display_used, _display_lie, _display_corrupt,
    ),
]


@dataclass
class Case:
    """One fuzzed stream: the good frames in it, how many broken frames still begin like a frame, its chunks."""

    seed: int | None
    """None when hypothesis drew the case (it reports the example itself)."""
    stream: bytes = b""
    good: list[bytes] = field(default_factory=list)
    broken_starts: int = 0
    chunks: list[bytes] = field(default_factory=list)


def _flip(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 3)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _truncate(rng: random.Random, frame: bytes) -> bytes:
    return frame[: rng.randrange(1, len(frame))] if len(frame) > 1 else b""


def case(codec: Codec, source: int | random.Random) -> Case:
    """A stream of good frames with broken frames and garbage between them, cut into random chunks; from a
    seed, or from a ``random.Random`` hypothesis controls."""
    rng = source if isinstance(source, random.Random) else random.Random(source)
    out = Case(None if isinstance(source, random.Random) else source)
    parts: list[bytes] = []
    mutations: list[Callable[[random.Random, bytes], bytes]] = [_flip, _truncate, codec.lie, codec.corrupt]
    for _ in range(rng.randint(1, 10)):
        frame = codec.good(rng)
        roll = rng.random()
        if roll < 0.4:
            parts.append(frame)
            out.good.append(frame)
        elif roll < 0.55:
            parts.append(rng.randbytes(rng.randint(1, 30)))  # garbage, start bytes and all
        else:
            broken = rng.choice(mutations)(rng, frame)
            parts.append(broken)
            out.broken_starts += bool(broken) and broken[0] in codec.starts
    # the stream goes on with silence long enough to settle every frame still waiting for its rest
    out.stream = b"".join(parts) + bytes(codec.longest)
    cuts = sorted(rng.randrange(len(out.stream) + 1) for _ in range(rng.randint(0, 12)))
    bounds = [0, *cuts, len(out.stream)]
    out.chunks = [out.stream[a:b] for a, b in pairwise(bounds)]
    return out


def is_subsequence(wanted: Sequence[object], got: Sequence[object]) -> bool:
    remaining = iter(got)
    return all(any(item == candidate for candidate in remaining) for item in wanted)


def check(codec: Codec, fuzzed: Case) -> None:
    expected = [codec.decoder().feed(frame)[0] for frame in fuzzed.good]
    whole = codec.decoder()
    items = whole.feed(fuzzed.stream)
    chopped = codec.decoder()
    pieces = [item for chunk in fuzzed.chunks for item in chopped.feed(chunk)]
    where = f"{codec.name} seed {fuzzed.seed}"
    assert pieces == items, f"{where}: chunking changed the output"
    assert (chopped.bad_frames, chopped.discarded_bytes) == (whole.bad_frames, whole.discarded_bytes), where
    assert is_subsequence(expected, items), f"{where}: a good frame was lost: {expected} not within {items}"
    assert whole.buffered == 0, f"{where}: {whole.buffered} bytes still held after the silence"
    used = sum(codec.used(item) for item in items)
    assert used + whole.discarded_bytes == len(fuzzed.stream), f"{where}: bytes unaccounted for"
    unexpected = len(items) - len(expected)  # broken frames that still make a valid frame (a harmless flip)
    assert whole.bad_frames + unexpected >= fuzzed.broken_starts, f"{where}: a broken frame went uncounted"
    assert (whole.last_error is not None) == (whole.bad_frames > 0), where


@pytest.mark.parametrize("codec", CODECS, ids=[codec.name for codec in CODECS])
def test_ten_thousand_fuzzed_streams(codec: Codec) -> None:
    broken = 0
    for index in range(CASES):
        fuzzed = case(codec, BASE_SEED + index)
        check(codec, fuzzed)
        broken += fuzzed.broken_starts
    assert broken > CASES  # the generator really produces broken frames, not just good ones


@pytest.mark.parametrize("codec", CODECS, ids=[codec.name for codec in CODECS])
@settings(max_examples=200)
@given(rng=st.randoms(use_true_random=False))
def test_fuzzed_streams_shrink_to_a_short_counter_example(codec: Codec, rng: random.Random) -> None:
    check(codec, case(codec, rng))


def test_the_display_shows_only_what_was_decoded_under_fuzz() -> None:
    """The simulated display is what a shopper sees: fuzzed input may garble the text, never crash it."""
    codec = CODECS[-1]
    for index in range(1000):
        screen = DisplayScreen()
        screen.apply(codec.decoder().feed(case(codec, BASE_SEED + index).stream))
        assert all(len(line) <= display.MAX_TEXT for line in screen.lines)


def test_ten_thousand_register_values_decode_or_are_refused_by_name() -> None:
    """The Modbus register map: any integer or float either converts or raises ReaderError naming it."""
    rng = random.Random(BASE_SEED)
    specials = [math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0]
    for _ in range(CASES):
        register = rng.choice([rng.randint(-(2**40), 2**40), rng.randrange(0x10000)])
        scale = rng.choice([0.1, 0.01, 1.0, 0.0, -0.1, math.nan, math.inf, rng.uniform(1e-9, 1e3)])
        try:
            celsius = decode_temperature(register, scale)
        except ReaderError as error:
            assert repr(register) in str(error) or repr(scale) in str(error)
        else:
            assert 0 <= register <= 0xFFFF and math.isfinite(celsius)
        value = rng.choice([*specials, rng.uniform(-1e6, 1e6), rng.uniform(-3000, 3000)])
        try:
            raw = encode_temperature(value, scale)
        except ReaderError as error:
            assert repr(value) in str(error) or repr(scale) in str(error)
        else:
            assert 0 <= raw <= 0xFFFF


def test_ten_thousand_epc_strings_decode_or_are_refused_by_name() -> None:
    """EPCs come from the air: any hex decodes (SGTIN-96 or raw), anything else raises ReaderError."""
    rng = random.Random(BASE_SEED)
    alphabet = "0123456789ABCDEFabcdef" * 3 + "xyz -:\x00é"
    for _ in range(CASES):
        text = "".join(rng.choice(alphabet) for _ in range(rng.choice([22, rng.randint(0, 70)])))
        if rng.random() < 0.5:
            text = "30" + text  # the SGTIN-96 header, so the full decoder runs on garbage too
        try:
            decoded = decode_epc(text)
        except ReaderError as error:
            assert repr(text) in str(error)
        else:
            assert isinstance(decoded, Sgtin | RawEpc)
