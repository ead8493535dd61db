"""The dashboard's FastAPI app: REST API, live feed, and the operator page with its own assets."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from dashboard import admin, api, crm_api, live
from dashboard.auth import Operator
from dashboard.hub import LiveHub
from dashboard.identify import make_resolver
from dashboard.settings import DashboardSettings
from ingest.db import repo
from ingest.db.engine import make_engine

log = logging.getLogger(__name__)
STATIC = Path(str(files("dashboard") / "static"))


def create_app(settings: DashboardSettings) -> FastAPI:
    """A dashboard app; its database engine and live hub start with the app and stop with it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.db_url)
        hub = LiveHub(
            settings.mqtt,
            make_resolver(engine),
            store=settings.store,
            presence_ttl_s=settings.presence_ttl_s,
            tick_s=settings.tick_s,
            client_queue=settings.client_queue,
        )
        try:
            with engine.connect() as conn:
                hub.state.know_zones(z.name for z in repo.list_zones(conn, store=settings.store))
        except SQLAlchemyError as exc:  # not migrated yet: the page fills in as data arrives
            log.warning("could not read the store layout: %s", exc)
        app.state.engine = engine
        app.state.hub = hub
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            engine.dispose()

    app = FastAPI(
        title="Silent Commerce dashboard",
        version="1",
        summary="Live store view, REST API and admin of catalog, members, tags and layout.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(api.router)
    app.include_router(live.router)
    app.include_router(admin.router)
    app.include_router(crm_api.router)
    app.include_router(crm_api.pages)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(_: Operator) -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    return app
