"""The dashboard's FastAPI app: REST API, live feed, and the operator page with its own assets.

Every route needs a login (see ``dashboard.auth``) except those on :data:`PUBLIC_PATHS`: the sign-in page,
the login and logout endpoints and the static assets. A browser asking for a page without a login is sent
to the sign-in page; an API client gets 401.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dashboard import admin, api, crm_api, crm_member, live, login
from dashboard.auth import AuthState, Operator
from dashboard.hub import LiveHub
from dashboard.identify import make_resolver
from dashboard.settings import DashboardSettings
from ingest.db import repo
from ingest.db.engine import make_engine

log = logging.getLogger(__name__)
STATIC = Path(str(files("dashboard") / "static"))
PUBLIC_PATHS = frozenset({"/login", "/api/login", "/api/logout", "/static"})
"""The only routes without an auth dependency (the route-walk test holds every other route to one)."""


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
        responses={400: {"description": "The request could not be read (a malformed body)"}},
        openapi_url=None,  # served below, behind a login like every other route
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.auth = AuthState.of(settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=True,
            allow_methods=["GET", "POST", "PUT"], allow_headers=["Authorization", "Content-Type"],
        )
    app.add_exception_handler(StarletteHTTPException, _sign_in_page_for_browsers)
    app.include_router(login.router)
    app.include_router(api.router)
    app.include_router(live.router)
    app.include_router(admin.router)
    app.include_router(crm_api.router)
    app.include_router(crm_api.pages)
    app.include_router(crm_member.router)  # authorised by the member's signed link, not by a login
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(_: Operator) -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: Operator) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(_: Operator) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title}: API")

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page() -> HTMLResponse:
        return HTMLResponse((STATIC / "login.html").read_text(encoding="utf-8"))

    return app


async def _sign_in_page_for_browsers(request: Request, exc: Exception) -> Response:
    """A page (not the API) asked for by a browser without a login goes to the sign-in page, then back; not a
    member's own page, whose only key is its link (a staff sign-in cannot help there)."""
    assert isinstance(exc, StarletteHTTPException)
    wants_page = request.method == "GET" and not request.url.path.startswith(("/api/", "/me/"))  # /me: no login
    if exc.status_code == 401 and wants_page and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/login?next=" + quote(request.url.path, safe="/"), status_code=303)
    return await http_exception_handler(request, exc)
