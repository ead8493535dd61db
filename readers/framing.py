"""The resynchronising scan the stream decoders share, sans-I/O.

``FrameDecoder.feed`` looks for the next byte a frame can start with, counts the bytes skipped before it in
``discarded_bytes``, and asks the protocol what is at that start: not complete yet (keep it and wait), one
item and its length, or a FrameError. A FrameError counts one ``bad_frames``, records ``last_error``, drops
that start byte alone and resumes right after it, so a good frame hidden inside a broken one is still found.
Each protocol bounds the buffer by raising FrameError instead of waiting for more than its longest frame.
Protocols parse in place at ``start``, so no frame is copied out of the buffer just to be read.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from readers.errors import FrameError

T = TypeVar("T")


class FrameDecoder(ABC, Generic[T]):
    """Bytes in, items out, for any chunking of a stream whose frames begin with one of ``start_bytes``."""

    def __init__(self, start_bytes: bytes) -> None:
        self._starts = re.compile(b"[" + re.escape(start_bytes) + b"]")
        self._buffer = bytearray()
        self.bad_frames = 0
        self.discarded_bytes = 0
        self.last_error: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)

    @abstractmethod
    def _parse(self, buffer: bytearray, start: int) -> tuple[T, int] | None:
        """The item at ``start`` and its length in bytes, None while incomplete; FrameError if broken."""

    def feed(self, data: bytes) -> list[T]:
        """Add bytes from the stream; return the items completed by them (never raises).

        The buffer is compacted once per call, not per frame: frames are parsed in place at a read offset.
        """
        buffer = self._buffer
        buffer += data
        items: list[T] = []
        search = self._starts.search
        parse = self._parse
        position = 0
        while True:
            found = search(buffer, position)
            if found is None:
                self.discarded_bytes += len(buffer) - position
                position = len(buffer)
                break
            start = found.start()
            self.discarded_bytes += start - position
            try:
                parsed = parse(buffer, start)
            except FrameError as error:
                self.bad_frames += 1
                self.discarded_bytes += 1
                self.last_error = str(error)
                position = start + 1
                continue
            if parsed is None:
                position = start
                break
            items.append(parsed[0])
            position = start + parsed[1]
        del buffer[:position]
        return items

