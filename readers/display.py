"""Serial customer (pole) display, Epson DM-D compatible 2 × 20, sans-I/O.

Commands: ``ESC @`` initialise, ``FF`` (0C) clear, ``ESC Q A <text> CR`` write the upper line,
``ESC Q B <text> CR`` write the lower line. Lines are numbered 1 (upper) and 2 (lower). The encoders are
what the gateway sends; ``DisplayDecoder`` and ``DisplayScreen`` are what a simulated display shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from readers.errors import FrameError, ReaderError
from readers.framing import FrameDecoder

ESC: Final = 0x1B
CLEAR: Final = 0x0C
CR: Final = 0x0D

INITIALISE_COMMAND: Final = b"\x1b@"
CLEAR_COMMAND: Final = b"\x0c"
WRITE_PREFIX: Final = b"\x1bQ"

LINE_UPPER: Final = 1
LINE_LOWER: Final = 2
LINE_SELECTORS: Final[dict[int, int]] = {LINE_UPPER: ord("A"), LINE_LOWER: ord("B")}
SELECTOR_LINES: Final[dict[int, int]] = {selector: line for line, selector in LINE_SELECTORS.items()}
_WRITE_HEADS: Final[dict[int, bytes]] = {line: WRITE_PREFIX + bytes([sel]) for line, sel in LINE_SELECTORS.items()}

DEFAULT_WIDTH: Final = 20
MAX_TEXT: Final = 80
"""Longest line text the decoder waits for before it gives up on a missing CR."""

# What the display cannot show: anything outside printable ASCII 20..7E. One regex scan per line replaces a
# per-character loop, which made writing the screen the slowest codec.
_UNPRINTABLE_TEXT: Final = re.compile(r"[^\x20-\x7e]")
_UNPRINTABLE_BYTE: Final = re.compile(rb"[^\x20-\x7e]")


@dataclass(frozen=True, slots=True)
class Initialise:
    """ESC @: reset the display (it comes up blank)."""


@dataclass(frozen=True, slots=True)
class ClearScreen:
    """FF: blank both lines."""


@dataclass(frozen=True, slots=True)
class WriteLine:
    """ESC Q A|B text CR: replace line 1 (upper) or 2 (lower) with ``text``."""

    line: int
    text: str


DisplayOp = Initialise | ClearScreen | WriteLine


# --- encoding ---------------------------------------------------------------------------------------------


def printable(text: str, width: int = DEFAULT_WIDTH) -> str:
    """``text`` as the display can show it: ASCII, '?' for anything else, padded or cut to ``width``."""
    if width < 1:
        raise ReaderError(f"display width {width!r} must be at least 1")
    return _UNPRINTABLE_TEXT.sub("?", text[:width]).ljust(width)


def initialise() -> bytes:
    """ESC @."""
    return INITIALISE_COMMAND


def clear() -> bytes:
    """Clear the screen."""
    return CLEAR_COMMAND


def write_line(line: int, text: str, width: int = DEFAULT_WIDTH) -> bytes:
    """Write ``text`` to line 1 (upper) or 2 (lower), padded or truncated to ``width``."""
    head = _WRITE_HEADS.get(line)
    if head is None:
        raise ReaderError(f"display line {line!r} is not 1 (upper) or 2 (lower)")
    if width > MAX_TEXT:
        raise ReaderError(f"display width {width!r} exceeds {MAX_TEXT}")
    return b"%s%s\r" % (head, printable(text, width).encode("ascii"))


def show(lines: Sequence[str], width: int = DEFAULT_WIDTH) -> bytes:
    """Clear the screen, then write up to two lines from the top."""
    if len(lines) > len(LINE_SELECTORS):
        raise ReaderError(f"a 2-line display cannot show {len(lines)} lines: {list(lines)!r}")
    return CLEAR_COMMAND + b"".join([write_line(number, text, width) for number, text in enumerate(lines, 1)])


# --- decoding ---------------------------------------------------------------------------------------------


def _write_op(buffer: bytes | bytearray, start: int) -> tuple[DisplayOp, int] | None:
    """The write command at ``start`` and its length, or None while its CR has not arrived."""
    if len(buffer) - start < len(WRITE_PREFIX) + 1:
        return None
    line = SELECTOR_LINES.get(buffer[start + 2])
    if line is None:
        raise FrameError(f"ESC Q selects line {buffer[start + 2]:02X}, expected 'A' or 'B'")
    text_start = start + 3
    end = min(len(buffer), text_start + MAX_TEXT + 1)
    carriage_return = buffer.find(CR, text_start, end)
    text_end = end if carriage_return < 0 else carriage_return
    control = _UNPRINTABLE_BYTE.search(buffer, text_start, text_end)
    if control is not None:
        byte = buffer[control.start()]
        raise FrameError(f"line {line} text holds the control byte {byte:02X} before its CR")
    if carriage_return >= 0:
        text = buffer[text_start:carriage_return].decode("ascii")
        return WriteLine(line=line, text=text), carriage_return + 1 - start
    if end - text_start > MAX_TEXT:
        raise FrameError(f"line {line} text runs past {MAX_TEXT} characters without a CR")
    return None


def _escape_op(buffer: bytes | bytearray, start: int) -> tuple[DisplayOp, int] | None:
    if len(buffer) - start < 2:
        return None
    second = buffer[start + 1]
    if second == INITIALISE_COMMAND[1]:
        return Initialise(), 2
    if second == WRITE_PREFIX[1]:
        return _write_op(buffer, start)
    raise FrameError(f"unsupported escape sequence ESC {second:02X}")


class DisplayDecoder(FrameDecoder[DisplayOp]):
    """Bytes the display receives in, operations out, for any chunking.

    An unknown or broken command counts one ``bad_frames``; its first byte is dropped and the scan resumes
    after it. Bytes outside any command (stray text) count in ``discarded_bytes``. The buffer never holds
    more than one maximal write command.
    """

    def __init__(self) -> None:
        super().__init__(bytes([ESC, CLEAR]))

    def _parse(self, buffer: bytearray, start: int) -> tuple[DisplayOp, int] | None:
        # A write command's length is only known by reading its text up to CR, which decodes it as well.
        if buffer[start] == CLEAR:
            return ClearScreen(), 1
        return _escape_op(buffer, start)


class DisplayScreen:
    """What a two-line display shows after a sequence of operations (pure state).

    ``lines`` holds the text of the upper and lower line without the trailing padding.
    """

    def __init__(self) -> None:
        self.lines: tuple[str, str] = ("", "")

    def apply(self, ops: Iterable[DisplayOp]) -> None:
        """Apply operations in order."""
        for op in ops:
            if isinstance(op, WriteLine):
                text = op.text.rstrip(" ")
                self.lines = (text, self.lines[1]) if op.line == LINE_UPPER else (self.lines[0], text)
            else:
                self.lines = ("", "")
