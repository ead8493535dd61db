"""Checks of what the engine is built with: settings and a catalog keyed consistently."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ingest.rules.errors import RulesError
from ingest.rules.model import Product, RuleSettings, Zone


def check_settings(settings: RuleSettings) -> None:
    problems = [
        f"{name} must be {rule}, got {value!r}"
        for name, value, ok, rule in (
            ("settle_time_s", settings.settle_time_s, settings.settle_time_s >= 0, ">= 0"),
            ("min_reads", settings.min_reads, settings.min_reads >= 1, ">= 1"),
            ("visit_timeout_s", settings.visit_timeout_s, settings.visit_timeout_s > 0, "> 0"),
            ("alarm_repeat_s", settings.alarm_repeat_s, settings.alarm_repeat_s >= 0, ">= 0"),
            ("leave_together_s", settings.leave_together_s, settings.leave_together_s >= 0, ">= 0"),
            ("committed_memory_s", settings.committed_memory_s, settings.committed_memory_s >= 0, ">= 0"),
            ("min_rssi", settings.min_rssi, math.isfinite(settings.min_rssi), "a finite number"),
        )
        if not ok
    ]
    if problems:
        raise RulesError("rule settings: " + "; ".join(problems))


def check_catalog(zones: Mapping[str, Zone], products: Mapping[str, Product]) -> None:
    for key, zone in zones.items():
        if key != zone.name:
            raise RulesError(f"zones[{key!r}]: the key differs from the zone's name {zone.name!r}")
    for key, product in products.items():
        if key != product.sku:
            raise RulesError(f"products[{key!r}]: the key differs from the product's sku {product.sku!r}")
