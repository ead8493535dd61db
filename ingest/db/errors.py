"""The database package's exception family."""

from __future__ import annotations


class DatabaseError(RuntimeError):
    """The database could not be opened, migrated or written; the message says which input was wrong."""


class NotFound(DatabaseError, LookupError):
    """A row that a caller named does not exist (e.g. ``bind_tag`` to an unknown member)."""
