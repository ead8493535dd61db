"""Annotated dependencies: what a request handler may ask for, all built in the app's lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
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


def _store_scope(
    settings: Settings,
    store: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
                                       description="Only this store (a dashboard that follows several).")] = None,
) -> str | None:
    """The store a read looks at: ``?store=`` narrows a dashboard that follows every store; a dashboard
    started for one store (``--store``) shows that one, and asking it for another is an error, not a
    silent switch."""
    if store is None or store == settings.store:
        return settings.store
    if settings.store is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"this dashboard shows store {settings.store!r}, not {store!r}")
    return store


StoreScope = Annotated[str | None, Depends(_store_scope)]
DbEngine = Annotated[Engine, Depends(_engine)]
Hub = Annotated[LiveHub, Depends(_hub)]
