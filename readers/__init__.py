"""Sans-I/O device codecs: bytes in, typed frames out, and pure encoders for the other direction.

``uhf`` (Magic RF M100 / R200 UHF modules), ``em4100`` (RDM6300 and ID-12LA card readers), ``display``
(ESC/POS-style pole display), ``modbus`` (register maps of sensors and relays), ``epc`` (SGTIN-96).
"""

from __future__ import annotations

from readers.display import (
    ClearScreen,
    DisplayDecoder,
    DisplayOp,
    DisplayScreen,
    Initialise,
    WriteLine,
)
from readers.em4100 import CardFrame, Em4100Decoder, Em4100Variant, encode_card
from readers.epc import RawEpc, Sgtin, decode_epc, encode_sgtin96
from readers.errors import FrameError, ReaderError
from readers.modbus import decode_door, decode_temperature, encode_temperature
from readers.uhf import (
    Command,
    ErrorResponse,
    Response,
    TagNotice,
    UhfDecoder,
    UhfMessage,
    encode_tag_notice,
)

__all__ = [
    "CardFrame",
    "ClearScreen",
    "Command",
    "DisplayDecoder",
    "DisplayOp",
    "DisplayScreen",
    "Em4100Decoder",
    "Em4100Variant",
    "ErrorResponse",
    "FrameError",
    "Initialise",
    "RawEpc",
    "ReaderError",
    "Response",
    "Sgtin",
    "TagNotice",
    "UhfDecoder",
    "UhfMessage",
    "WriteLine",
    "decode_door",
    "decode_epc",
    "decode_temperature",
    "encode_card",
    "encode_sgtin96",
    "encode_tag_notice",
    "encode_temperature",
]
