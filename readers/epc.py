"""EPC decoding: SGTIN-96 through epcpy, anything else kept as raw hex.

``decode_epc`` is called for every read, so its answers are cached (epcpy takes tens of microseconds per
decode). It never raises for a hex string: what is not a valid SGTIN-96 comes back as ``RawEpc``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from epcpy.epc_schemes.sgtin import SGTIN, SGTINFilterValue
from epcpy.utils.common import ConvertException

from readers.errors import ReaderError

SGTIN96_HEADER: Final = 0x30
SGTIN96_HEX_DIGITS: Final = 24
SGTIN96_BITS: Final = 96
FILTER_SHIFT: Final = SGTIN96_BITS - 8 - 3  # filter: the 3 bits after the 8-bit header
FILTER_MASK: Final = 0b111
SERIAL_LIMIT: Final = 1 << 38
COMPANY_PREFIX_LENGTHS: Final = range(6, 13)
CACHE_SIZE: Final = 8192

_HEX = re.compile(r"[0-9A-Fa-f]+")
_GTIN14 = re.compile(r"[0-9]{14}")
_DECODE_ERRORS: Final = (ConvertException, ValueError, KeyError, IndexError)


@dataclass(frozen=True, slots=True)
class Sgtin:
    """A GS1 serialised trade item: the product (GTIN-14) and this one item's serial number."""

    epc: str
    gtin: str
    company_prefix: str
    item_reference: str
    serial: int
    filter: int
    uri: str


@dataclass(frozen=True, slots=True)
class RawEpc:
    """An EPC that is not a valid SGTIN-96, kept as upper-case hex."""

    epc: str


def gtin_check_digit(first13: str) -> int:
    """GS1 mod-10 check digit of the first 13 digits of a GTIN-14."""
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(first13))
    return (10 - total % 10) % 10


def decode_epc(epc_hex: str) -> Sgtin | RawEpc:
    """``Sgtin`` for a valid SGTIN-96, ``RawEpc`` for any other EPC; ReaderError if it is not hex."""
    if not _HEX.fullmatch(epc_hex):
        raise ReaderError(f"EPC {epc_hex!r} is not a hex string")
    return _decode_cached(epc_hex.upper())


@lru_cache(maxsize=CACHE_SIZE)
def _decode_cached(epc: str) -> Sgtin | RawEpc:
    if len(epc) != SGTIN96_HEX_DIGITS or int(epc[:2], 16) != SGTIN96_HEADER:
        return RawEpc(epc)
    try:
        scheme = SGTIN.from_hex(epc)
        gtin = scheme.gtin()
        company_prefix, item_reference, serial = scheme.epc_uri.rsplit(":", 1)[1].split(".")
    except _DECODE_ERRORS:
        return RawEpc(epc)
    return Sgtin(
        epc=epc,
        gtin=gtin,
        company_prefix=company_prefix,
        item_reference=item_reference,
        serial=int(serial),
        filter=(int(epc, 16) >> FILTER_SHIFT) & FILTER_MASK,
        uri=scheme.epc_uri,
    )


def encode_sgtin96(gtin: str, serial: int, company_prefix_length: int = 7, filter_value: int = 1) -> str:
    """The SGTIN-96 EPC (upper hex) of item ``serial`` of the product ``gtin`` (14 digits)."""
    if not _GTIN14.fullmatch(gtin):
        raise ReaderError(f"GTIN {gtin!r} is not 14 digits")
    if int(gtin[-1]) != gtin_check_digit(gtin[:-1]):
        raise ReaderError(f"GTIN {gtin!r} has check digit {gtin[-1]}, expected {gtin_check_digit(gtin[:-1])}")
    if not 0 <= serial < SERIAL_LIMIT:
        raise ReaderError(f"serial {serial!r} does not fit the 38 bits of an SGTIN-96")
    if company_prefix_length not in COMPANY_PREFIX_LENGTHS:
        raise ReaderError(f"company prefix length {company_prefix_length!r} is not between 6 and 12")
    if not 0 <= filter_value <= FILTER_MASK:
        raise ReaderError(f"filter value {filter_value!r} is not between 0 and 7")
    try:
        scheme = SGTIN.from_gtin_plus_serial(gtin, str(serial), company_prefix_length)
        binary = scheme.binary(
            binary_coding_scheme=SGTIN.BinaryCodingScheme.SGTIN_96,
            filter_value=SGTINFilterValue(str(filter_value)),
        )
    except _DECODE_ERRORS as error:
        raise ReaderError(f"GTIN {gtin!r} with serial {serial!r} cannot be an SGTIN-96: {error}") from error
    return f"{int(binary, 2):0{SGTIN96_HEX_DIGITS}X}"
