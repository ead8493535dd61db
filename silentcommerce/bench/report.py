"""The bench's results: figures with their targets, printed as one table and written as JSON.

A figure is a number with its unit and, where the project has one, a target it must meet (``≥`` or ``<``);
``passed`` is ``None`` for figures that have no target (context such as the raw baseline or a seeding time).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table

Comparison = Literal[">=", "<", "=="]


@dataclass(frozen=True, slots=True)
class Target:
    op: Comparison
    value: float

    def met_by(self, value: float) -> bool:
        if self.op == ">=":
            return value >= self.value
        if self.op == "<":
            return value < self.value
        return value == self.value

    def __str__(self) -> str:
        return f"{'≥' if self.op == '>=' else self.op} {self.value:,.10g}"


@dataclass(frozen=True, slots=True)
class Figure:
    section: str
    name: str
    value: float | None
    unit: str = ""
    target: Target | None = None
    note: str = ""

    @property
    def passed(self) -> bool | None:
        if self.target is None:
            return None
        return self.value is not None and self.target.met_by(self.value)


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    """Raw material per section (counts, samples, timings) for whoever reads the JSON."""
    tables: list[Table] = field(default_factory=list)
    """Sections' own tables printed after the figures (their numbers are figures and details too)."""

    def add(self, section: str, name: str, value: float | None, unit: str = "", *,
            target: Target | None = None, note: str = "") -> None:
        self.figures.append(Figure(section, name, value, unit, target, note))

    @property
    def missed(self) -> list[Figure]:
        return [f for f in self.figures if f.passed is False]

    def table(self) -> Table:
        table = Table(title="silentcommerce bench", title_justify="left")
        for column, justify in (("section", "left"), ("figure", "left"), ("value", "right"), ("unit", "left"),
                                ("target", "left"), ("", "left"), ("note", "left")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for f in self.figures:
            verdict = {None: "", True: "[green]pass[/green]", False: "[red]miss[/red]"}[f.passed]
            table.add_row(f.section, f.name, _number(f.value), f.unit, str(f.target or ""), verdict, f.note)
        return table

    def print(self, console: Console) -> None:
        console.print(self.table())
        for table in self.tables:
            console.print(table)

    def to_json(self) -> str:
        figures = [
            {**{k: v for k, v in asdict(f).items() if k != "target"},
             "target": None if f.target is None else {"op": f.target.op, "value": f.target.value},
             "passed": f.passed}
            for f in self.figures
        ]
        return json.dumps(
            {
                "generated_at": datetime.now(UTC).isoformat(),
                "machine": {"cpus": len(os.sched_getaffinity(0)), "load_average": os.getloadavg(),
                            "python": platform.python_version(), "platform": platform.platform()},
                "settings": self.settings,
                "figures": figures,
                "details": self.details,
            },
            indent=2,
            default=str,
        )

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"

