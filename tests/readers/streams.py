"""Helpers shared by the codec tests: cut one byte stream into arbitrary chunks, count the bytes a message used."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import TypeVar

from hypothesis import strategies as st

from readers.uhf import CRC_FIELD, MIN_FRAME, NOTICE_HEAD, ErrorResponse, TagNotice, UhfMessage

T = TypeVar("T")


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` split at arbitrary points (including empty chunks and one-byte chunks)."""
    if not data:
        return [b""]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=min(len(data), 40))))
    bounds = [0, *cuts, len(data)]
    return [data[start:end] for start, end in pairwise(bounds)]


def feed_all(feed: Callable[[bytes], list[T]], chunks: Sequence[bytes]) -> list[T]:
    """Everything a decoder returns for the chunks, in order."""
    out: list[T] = []
    for chunk in chunks:
        out.extend(feed(chunk))
    return out


def without(forbidden: Sequence[int], max_size: int = 40) -> st.SearchStrategy[bytes]:
    """Line noise that contains none of the ``forbidden`` byte values (so it cannot start a frame)."""
    return st.binary(max_size=max_size).map(lambda raw: raw.translate(None, bytes(forbidden)))


def uhf_frame_length(message: UhfMessage) -> int:
    """How many stream bytes the frame of a decoded UHF message took."""
    if isinstance(message, TagNotice):
        return MIN_FRAME + NOTICE_HEAD.size + len(message.epc) // 2 + CRC_FIELD.size
    if isinstance(message, ErrorResponse):
        return MIN_FRAME + 1
    return MIN_FRAME + len(message.params)
