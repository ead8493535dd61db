"""The operator's live store page and REST API (FastAPI).

Build the app with :func:`dashboard.app.create_app` from :class:`dashboard.settings.DashboardSettings`;
run it with :func:`dashboard.main.run`.
"""

from dashboard.errors import DashboardError
from dashboard.settings import DashboardSettings

__all__ = ["DashboardError", "DashboardSettings"]
