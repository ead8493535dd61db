"""125 kHz EM4100 card readers that speak ASCII (RDM6300, ID-12LA / ID-20LA), sans-I/O.

RDM6300: ``STX | 10 ASCII hex (version byte + 32-bit card number) | 2 ASCII hex XOR checksum | ETX``,
repeated while the card is in the field. ID-12LA: the same with CR LF before ETX, once per presentation.
How long a card counts as present between repeats is the gateway's decision, not the codec's.
"""

from __future__ import annotations

import re
from binascii import unhexlify
from dataclasses import dataclass
from functools import reduce
from operator import xor
from typing import Final, Literal, get_args

from readers.errors import FrameError, ReaderError
from readers.framing import FrameDecoder

Em4100Variant = Literal["rdm6300", "id12la"]
VARIANTS: Final[tuple[str, ...]] = get_args(Em4100Variant)

STX: Final = 0x02
ETX: Final = 0x03
UID_DIGITS: Final = 10
CHECKSUM_DIGITS: Final = 2

# Accepted endings after the checksum, per variant; the first is the one encoders send. The ID-12LA's CR LF
# order comes from driver code, not the datasheet, so LF CR is accepted as well.
TRAILERS: Final[dict[str, tuple[bytes, ...]]] = {
    "rdm6300": (b"\x03",),
    "id12la": (b"\r\n\x03", b"\n\r\x03"),
}

_HEX_DIGITS: Final = frozenset(b"0123456789ABCDEFabcdef")
_UID = re.compile(r"[0-9A-Fa-f]{10}")


@dataclass(frozen=True, slots=True)
class CardFrame:
    """One card read: ``uid`` is the 10 hex digits (upper case), ``number`` the decimal printed on fobs."""

    uid: str
    version: int
    number: int


def card_checksum(uid: str) -> int:
    """XOR of the five data bytes of a 10-hex-digit UID."""
    return reduce(xor, bytes.fromhex(uid), 0)


def card_from_uid(uid: str) -> CardFrame:
    """The card a 10-hex-digit UID denotes (version byte, then the 32-bit number)."""
    if not _UID.fullmatch(uid):
        raise ReaderError(f"card UID {uid!r} is not 10 hex digits")
    uid = uid.upper()
    return CardFrame(uid=uid, version=int(uid[:2], 16), number=int(uid[2:], 16))


def _check_variant(variant: str) -> None:
    if variant not in TRAILERS:
        raise ReaderError(f"EM4100 reader variant {variant!r} is not one of {', '.join(VARIANTS)}")


def _card_at(buffer: bytes | bytearray, start: int, variant: str, trailers: tuple[bytes, ...]) -> CardFrame:
    """The card in the frame at ``start``, whose length is already known to be the variant's.

    Works in place so the stream decoder need not copy each frame out of its buffer first; the hex digits
    are converted once, and the checksum digits come along as a sixth byte.
    """
    if buffer[start] != STX:
        raise FrameError(f"{variant} frame starts with {buffer[start]:02X}, expected STX 02")
    digits_end = start + 1 + UID_DIGITS + CHECKSUM_DIGITS
    digits = bytes(buffer[start + 1 : digits_end])
    if not _HEX_DIGITS.issuperset(digits):
        raise FrameError(f"{variant} frame carries non-hex characters {digits!r}")
    trailer = bytes(buffer[digits_end : digits_end + len(trailers[0])])
    if trailer not in trailers:
        raise FrameError(f"{variant} frame ends with {trailer!r}, expected {trailers[0]!r}")
    card = unhexlify(digits)  # version, 4 number bytes, checksum
    computed = reduce(xor, card[:-1])
    sent = card[-1]
    uid = digits[:UID_DIGITS].decode("ascii").upper()
    if sent != computed:
        raise FrameError(f"card {uid} checksum {sent:02X} does not match the XOR {computed:02X}")
    return CardFrame(uid=uid, version=card[0], number=int.from_bytes(card[1:-1], "big"))


def decode_frame(frame: bytes, variant: Em4100Variant) -> CardFrame:
    """Decode exactly one complete frame of ``variant``; raises FrameError saying what is wrong with it."""
    _check_variant(variant)
    trailers = TRAILERS[variant]
    length = 1 + UID_DIGITS + CHECKSUM_DIGITS + len(trailers[0])
    if len(frame) != length:
        raise FrameError(f"{variant} frame of {len(frame)} bytes, expected {length}")
    return _card_at(frame, 0, variant, trailers)


class Em4100Decoder(FrameDecoder[CardFrame]):
    """Bytes in, card frames out, for any chunking of the reader's stream.

    A candidate frame that fails counts one ``bad_frames``; its STX is dropped and the scan resumes after
    it. ``discarded_bytes`` counts every byte that ended up in no frame.
    """

    def __init__(self, variant: Em4100Variant) -> None:
        _check_variant(variant)
        super().__init__(bytes([STX]))
        self.variant: Em4100Variant = variant
        self._trailers = TRAILERS[variant]
        self.frame_length = 1 + UID_DIGITS + CHECKSUM_DIGITS + len(self._trailers[0])

    def _parse(self, buffer: bytearray, start: int) -> tuple[CardFrame, int] | None:
        # Every frame of a variant has the same length, so there is no header to read first.
        if len(buffer) - start < self.frame_length:
            return None
        return _card_at(buffer, start, self.variant, self._trailers), self.frame_length


def encode_card(uid: str, variant: Em4100Variant) -> bytes:
    """The frame ``variant`` sends for the card ``uid`` (10 hex digits)."""
    _check_variant(variant)
    card = card_from_uid(uid)
    return b"%c%s%02X%s" % (STX, card.uid.encode("ascii"), card_checksum(card.uid), TRAILERS[variant][0])
