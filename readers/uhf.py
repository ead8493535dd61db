"""Magic RF M100 / R200 family UHF modules ("BB … 7E" frames), sans-I/O.

Frame: ``BB | type | command | PL_H | PL_L | params[PL] | checksum | 7E``; the checksum is the low byte of
the sum of type, command, PL_H, PL_L and the params. ``UhfDecoder.feed`` turns any chunking of a byte
stream into typed messages and counts what it cannot use; the ``encode_*`` functions build frames in both
directions (host commands for the gateway, module answers for the simulators).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from readers.errors import FrameError, ReaderError
from readers.framing import FrameDecoder

FRAME_START: Final = 0xBB
FRAME_END: Final = 0x7E

FRAME_TYPE_COMMAND: Final = 0x00
FRAME_TYPE_RESPONSE: Final = 0x01
FRAME_TYPE_NOTICE: Final = 0x02
FRAME_TYPES: Final = frozenset({FRAME_TYPE_COMMAND, FRAME_TYPE_RESPONSE, FRAME_TYPE_NOTICE})

CMD_HARDWARE_VERSION: Final = 0x03
CMD_SINGLE_POLL: Final = 0x22
CMD_MULTI_POLL: Final = 0x27
CMD_STOP_MULTI_POLL: Final = 0x28
CMD_ERROR: Final = 0xFF

ERROR_NO_TAG: Final = 0x15

MULTI_POLL_RESERVED: Final = 0x22
"""The reserved byte that precedes the count in a multi-poll command."""

MAX_PARAMS: Final = 512
"""Longest parameter field accepted; a longer declared length is treated as line noise, not waited for."""

HEADER: Final = struct.Struct(">BBBH")  # start, type, command, parameter length
TRAILER_LENGTH: Final = 2  # checksum, end byte
MIN_FRAME: Final = HEADER.size + TRAILER_LENGTH
MAX_FRAME: Final = MIN_FRAME + MAX_PARAMS

NOTICE_HEAD: Final = struct.Struct(">bH")  # RSSI (signed dBm), PC word
CRC_FIELD: Final = struct.Struct(">H")
MULTI_POLL_PARAMS: Final = struct.Struct(">BH")  # reserved 0x22, count

PC_LENGTH_SHIFT: Final = 11  # PC bits 15..11: EPC length in 16-bit words
MAX_EPC_WORDS: Final = 31

_HEX = re.compile(r"(?:[0-9A-Fa-f]{4})+")


@dataclass(frozen=True, slots=True)
class TagNotice:
    """One inventory result: a tag heard by the module (type 02, command 22)."""

    rssi: int
    pc: int
    epc: str
    crc: int


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """The module's error answer (type 01, command FF); ``code`` 0x15 means no tag answered."""

    code: int


@dataclass(frozen=True, slots=True)
class Response:
    """Any other module → host frame, by command, with its raw parameters."""

    command: int
    params: bytes


@dataclass(frozen=True, slots=True)
class Command:
    """A host → module frame (type 00), as the simulators see what the gateway sends."""

    command: int
    params: bytes


UhfMessage = TagNotice | ErrorResponse | Response | Command


def checksum(body: bytes | bytearray) -> int:
    """Low byte of the sum of type, command, length and params (the frame minus start, checksum, end)."""
    return sum(body) & 0xFF


def gen2_crc16(data: bytes) -> int:
    """EPC Gen2 CRC-16 (poly 0x1021, init 0xFFFF, inverted result), as a tag stores it over PC + EPC."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc ^ 0xFFFF


# --- decoding ---------------------------------------------------------------------------------------------


def _tag_notice(buffer: bytes | bytearray, start: int, end: int) -> UhfMessage:
    size = end - start
    if size < NOTICE_HEAD.size + CRC_FIELD.size:
        raise FrameError(f"tag notice too short: {size} parameter bytes, need at least 5")
    rssi, pc = NOTICE_HEAD.unpack_from(buffer, start)
    epc_length = (pc >> PC_LENGTH_SHIFT) * 2
    expected = NOTICE_HEAD.size + epc_length + CRC_FIELD.size
    if size != expected:
        raise FrameError(
            f"tag notice with PC {pc:04X} announces a {epc_length}-byte EPC ({expected} parameter bytes) "
            f"but carries {size} parameter bytes"
        )
    epc_start = start + NOTICE_HEAD.size
    epc_end = epc_start + epc_length
    crc = buffer[epc_end] << 8 | buffer[epc_end + 1]
    return TagNotice(rssi=rssi, pc=pc, epc=buffer[epc_start:epc_end].hex().upper(), crc=crc)


def _error_response(buffer: bytes | bytearray, start: int, end: int) -> UhfMessage:
    if end - start != 1:
        raise FrameError(f"error response must carry 1 parameter byte (the code), got {end - start}")
    return ErrorResponse(code=buffer[start])


_ParamParser = Callable[[bytes | bytearray, int, int], UhfMessage]
"""Reads the parameters in ``buffer[start:end]`` where they lie, without copying them out first."""

# (type, command) → parser for the frames with a fixed meaning; other frames fall back by type.
_PARSERS: Final[dict[tuple[int, int], _ParamParser]] = {
    (FRAME_TYPE_NOTICE, CMD_SINGLE_POLL): _tag_notice,
    (FRAME_TYPE_RESPONSE, CMD_ERROR): _error_response,
}

_FALLBACKS: Final[dict[int, Callable[[int, bytes], UhfMessage]]] = {
    FRAME_TYPE_COMMAND: lambda command, params: Command(command=command, params=params),
    FRAME_TYPE_RESPONSE: lambda command, params: Response(command=command, params=params),
    FRAME_TYPE_NOTICE: lambda command, params: Response(command=command, params=params),
}


def _frame_length(buffer: bytes | bytearray, start: int) -> int:
    """Total length of the frame whose header starts at ``start``; raises FrameError for a bad header."""
    frame_type = buffer[start + 1]
    if frame_type not in FRAME_TYPES:
        raise FrameError(f"unknown frame type {frame_type:02X} (expected 00, 01 or 02)")
    param_length = buffer[start + 3] << 8 | buffer[start + 4]
    if param_length > MAX_PARAMS:
        raise FrameError(f"declared parameter length {param_length} exceeds {MAX_PARAMS}")
    return MIN_FRAME + param_length


def _message_at(buffer: bytes | bytearray, start: int, end: int) -> UhfMessage:
    """The message in ``buffer[start:end]``, whose header ``_frame_length`` accepted for exactly that length.

    Works in place so the stream decoder need not copy each frame out of its buffer first.
    """
    if buffer[end - 1] != FRAME_END:
        raise FrameError(f"frame ends with {buffer[end - 1]:02X}, expected {FRAME_END:02X}")
    computed = checksum(buffer[start + 1 : end - TRAILER_LENGTH])
    if computed != buffer[end - 2]:
        raise FrameError(f"checksum {buffer[end - 2]:02X} does not match computed {computed:02X}")
    frame_type = buffer[start + 1]
    command = buffer[start + 2]
    params_start = start + HEADER.size
    params_end = end - TRAILER_LENGTH
    parser = _PARSERS.get((frame_type, command))
    if parser is not None:
        return parser(buffer, params_start, params_end)
    return _FALLBACKS[frame_type](command, bytes(buffer[params_start:params_end]))


def decode_frame(frame: bytes) -> UhfMessage:
    """Decode exactly one complete frame; raises FrameError saying what is wrong with it."""
    if len(frame) < MIN_FRAME:
        raise FrameError(f"frame of {len(frame)} bytes is shorter than the minimum {MIN_FRAME}")
    if frame[0] != FRAME_START:
        raise FrameError(f"frame starts with {frame[0]:02X}, expected {FRAME_START:02X}")
    length = _frame_length(frame, 0)
    if len(frame) != length:
        raise FrameError(f"frame of {len(frame)} bytes, its header announces {length}")
    return _message_at(frame, 0, length)


class UhfDecoder(FrameDecoder[UhfMessage]):
    """Bytes in, messages out, for any chunking of the module's stream.

    A candidate frame that fails (bad header, length, end byte or checksum) counts one ``bad_frames``; its
    start byte is dropped and the scan resumes right after it, so a good frame hidden inside a broken one is
    still found. ``discarded_bytes`` counts every byte that ended up in no message. The buffer never holds
    more than one maximal frame.
    """

    def __init__(self) -> None:
        super().__init__(bytes([FRAME_START]))

    def _parse(self, buffer: bytearray, start: int) -> tuple[UhfMessage, int] | None:
        available = len(buffer) - start
        if available < HEADER.size:
            return None
        length = _frame_length(buffer, start)
        if available < length:
            return None
        return _message_at(buffer, start, start + length), length


# --- encoding ---------------------------------------------------------------------------------------------


def encode_frame(frame_type: int, command: int, params: bytes = b"") -> bytes:
    """One complete frame with its checksum and end byte."""
    if frame_type not in FRAME_TYPES:
        raise ReaderError(f"frame type {frame_type!r} is not one of 0x00, 0x01, 0x02")
    if not 0 <= command <= 0xFF:
        raise ReaderError(f"command {command!r} does not fit in one byte")
    if len(params) > MAX_PARAMS:
        raise ReaderError(f"{len(params)} parameter bytes exceed the maximum of {MAX_PARAMS}")
    body = HEADER.pack(FRAME_START, frame_type, command, len(params))[1:] + bytes(params)
    return bytes([FRAME_START]) + body + bytes([checksum(body), FRAME_END])


def hardware_version(info: int = 0x00) -> bytes:
    """Ask for the module's hardware version (info 01 = software version, 02 = manufacturer)."""
    if not 0 <= info <= 0xFF:
        raise ReaderError(f"hardware-version info {info!r} does not fit in one byte")
    return encode_frame(FRAME_TYPE_COMMAND, CMD_HARDWARE_VERSION, bytes([info]))


def single_poll() -> bytes:
    """Inventory once: answered by one notice per tag, or an error 15 when no tag answered."""
    return encode_frame(FRAME_TYPE_COMMAND, CMD_SINGLE_POLL)


def multi_poll(count: int = 10000) -> bytes:
    """Inventory ``count`` rounds (0–65535), one notice per tag read, with repeats."""
    if not 0 <= count <= 0xFFFF:
        raise ReaderError(f"multi-poll count {count!r} is outside 0..65535")
    return encode_frame(
        FRAME_TYPE_COMMAND, CMD_MULTI_POLL, MULTI_POLL_PARAMS.pack(MULTI_POLL_RESERVED, count)
    )


def stop_multi_poll() -> bytes:
    """Stop a running multi-poll."""
    return encode_frame(FRAME_TYPE_COMMAND, CMD_STOP_MULTI_POLL)


def encode_tag_notice(epc: str, rssi: int, pc: int | None = None, *, crc: int | None = None) -> bytes:
    """The notice a module sends for one tag read.

    ``pc`` defaults to the EPC length in words in bits 15–11 (0x3000 for 96 bits); ``crc`` defaults to the
    Gen2 CRC-16 of PC + EPC, which is what a real tag reports.
    """
    if not _HEX.fullmatch(epc):
        raise ReaderError(f"EPC {epc!r} is not hex in whole 16-bit words")
    epc_bytes = bytes.fromhex(epc)
    words = len(epc_bytes) // 2
    if words > MAX_EPC_WORDS:
        raise ReaderError(f"EPC {epc!r} has {words} words; a PC word can announce at most {MAX_EPC_WORDS}")
    if not -128 <= rssi <= 127:
        raise ReaderError(f"RSSI {rssi!r} dBm does not fit in a signed byte")
    if pc is None:
        pc = words << PC_LENGTH_SHIFT
    if not 0 <= pc <= 0xFFFF or pc >> PC_LENGTH_SHIFT != words:
        raise ReaderError(f"PC {pc!r} does not announce the {words}-word EPC {epc!r}")
    head = NOTICE_HEAD.pack(rssi, pc)
    if crc is None:
        crc = gen2_crc16(head[1:] + epc_bytes)
    if not 0 <= crc <= 0xFFFF:
        raise ReaderError(f"CRC {crc!r} does not fit in 16 bits")
    return encode_frame(FRAME_TYPE_NOTICE, CMD_SINGLE_POLL, head + epc_bytes + CRC_FIELD.pack(crc))


def encode_error(code: int) -> bytes:
    """The module's error answer, e.g. ``encode_error(ERROR_NO_TAG)`` after a poll that heard nothing."""
    if not 0 <= code <= 0xFF:
        raise ReaderError(f"error code {code!r} does not fit in one byte")
    return encode_frame(FRAME_TYPE_RESPONSE, CMD_ERROR, bytes([code]))


def encode_response(command: int, params: bytes) -> bytes:
    """A module's answer to ``command`` with the given parameters."""
    return encode_frame(FRAME_TYPE_RESPONSE, command, params)
