"""The ``silentcommerce`` command: a thin shell over library calls."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="RFID silent commerce: gateway, ingest, dashboard, simulators.")


def main() -> None:
    app()
