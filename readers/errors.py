"""The readers' exception family.

Decoders never raise on bad bytes (they count them); these errors are for calls with arguments that cannot
be encoded or decoded at all, such as an EPC that is not hex or a temperature outside the register range.
"""

from __future__ import annotations


class ReaderError(ValueError):
    """An argument a codec cannot encode or decode; the message names the input and what was wrong."""


class FrameError(ReaderError):
    """A frame that does not satisfy its protocol's layout (length, checksum, end byte)."""
