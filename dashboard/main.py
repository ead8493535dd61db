"""Run the dashboard with uvicorn: ``run(settings, host, port)``."""

from __future__ import annotations

import uvicorn

from dashboard.app import create_app
from dashboard.settings import DashboardSettings

GRACEFUL_SHUTDOWN_S = 3
"""Live-feed streams never end by themselves; give them this long at shutdown, then close them."""


def server(settings: DashboardSettings, host: str = "127.0.0.1", port: int = 8000) -> uvicorn.Server:
    """A uvicorn server for the dashboard, not yet started (tests and the demo run it in a thread)."""
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="on",
    )
    return uvicorn.Server(config)


def run(settings: DashboardSettings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the dashboard until interrupted."""
    server(settings, host, port).run()
