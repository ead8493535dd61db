"""The pure silent-commerce rules engine: sightings and time in, decisions out (no I/O, no clock)."""

from __future__ import annotations

from ingest.rules.engine import StoreEngine
from ingest.rules.errors import RulesError
from ingest.rules.views import BasketView, LaneView

__all__ = ["BasketView", "LaneView", "RulesError", "StoreEngine"]
