"""Annotated dependencies: what a request handler may ask for, all built in the app's lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from dashboard.hub import LiveHub
from dashboard.settings import DashboardSettings


def _settings(request: Request) -> DashboardSettings:
    settings: DashboardSettings = request.app.state.settings
    return settings


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _hub(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.hub
    return hub


Settings = Annotated[DashboardSettings, Depends(_settings)]
DbEngine = Annotated[Engine, Depends(_engine)]
Hub = Annotated[LiveHub, Depends(_hub)]
