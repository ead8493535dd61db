"""The dashboard's exception family."""

from __future__ import annotations


class DashboardError(Exception):
    """Base of the dashboard's errors; the message names the input that was wrong."""


class SettingsError(DashboardError):
    """Settings that cannot run a dashboard (no logins, an unreadable credentials file, ...)."""
