"""The rules engine's exception family."""

from __future__ import annotations


class RulesError(ValueError):
    """The engine was given a catalog or settings it cannot work with; the message names which."""
