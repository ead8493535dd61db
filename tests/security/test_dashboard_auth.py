"""Every dashboard route needs a login (except the public allow-list), and each kind of bad login is refused.

The routes are walked from ``app.routes``, so a route added later is held to the same rules without anyone
remembering to list it here.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

from dashboard import tokens
from dashboard.app import PUBLIC_PATHS, create_app
from dashboard.auth import SESSION_COOKIE, AuthState, admin_only, is_auth_dependency, signed_in
from tests.dashboard.conftest import ADMIN, LOGINS, OPERATOR, seeded_database, settings_for, unreachable_mqtt
from tests.fixtures.databases import Databases

SAMPLE_PATH_VALUES = {
    "sku": "MILK-1L", "member_id": "M-1001", "name": "lane-1", "tag": "EPC:3074257BF7194E4000001A85",
    "alert_id": "1", "transaction_id": "T-seed-1",
}
STREAMS = {"/api/live"}
"""Answer forever once allowed in: only their refusals are walked here (tests/dashboard streams them)."""


def app_routes(app: FastAPI) -> list[Any]:
    """Every route as served, routers' routes included (with their routers' dependencies and prefixes)."""
    flatten = getattr(routing, "iter_route_contexts", None)  # FastAPI keeps included routers lazily
    return list(flatten(app.routes)) if flatten is not None else list(app.routes)


def kind(route: Any) -> type:
    return type(getattr(route, "original_route", route))


def calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from calls(dep)


def guard(route: Any) -> str:
    """Which login a route needs: 'admin', 'operator', 'other' (a router's own marked dependency) or ''."""
    found = list(calls(route.dependant))
    if admin_only in found:
        return "admin"
    if signed_in in found:
        return "operator"
    return "other" if any(is_auth_dependency(c) for c in found) else ""


def offline_app(db_url: str = "sqlite://") -> FastAPI:
    return create_app(settings_for(db_url, unreachable_mqtt()))


def guarded_requests() -> list[tuple[str, str, str]]:
    """(method, concrete path, guard) for every non-public API route of the app."""
    out = []
    for route in app_routes(offline_app()):
        if issubclass(kind(route), APIRoute) and route.path not in PUBLIC_PATHS:
            path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE_PATH_VALUES.get(m.group(1), "x1"), route.path)
            out += [(method, path, guard(route)) for method in sorted(route.methods - {"HEAD"})]
    return out


ROUTES = guarded_requests()


def test_every_route_declares_an_auth_dependency_unless_it_is_on_the_public_list() -> None:
    unguarded = []
    for route in app_routes(offline_app()):
        if issubclass(kind(route), APIRoute):
            if not guard(route) and route.path not in PUBLIC_PATHS:
                unguarded.append(f"{sorted(route.methods)} {route.path}")
        elif issubclass(kind(route), Mount):
            assert route.path in PUBLIC_PATHS, f"mount {route.path} is not on the public list"
        else:  # a plain Starlette route cannot declare a dependency at all
            unguarded.append(f"{type(route).__name__} {getattr(route, 'path', route)}")
    assert unguarded == []
    assert {"operator", "admin"} <= {g for _, _, g in ROUTES}


@pytest.fixture(scope="module")
def client(databases: Databases) -> Iterator[TestClient]:
    """On SQLite only: the walk is about who may call a route; the API tests check both databases."""
    with seeded_database(databases, "sqlite") as db_url:
        # this walk fails sign-ins on purpose, many more than a person would
        app = create_app(settings_for(db_url, unreachable_mqtt(), login_failures_per_address=10_000,
                                      login_failures_per_login=10_000))
        with TestClient(app) as test_client:
            yield test_client


def auth_of(client: TestClient) -> AuthState:
    state: AuthState = client.app.state.auth  # type: ignore[attr-defined]
    return state


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def with_role(token: str, role: str) -> str:
    """The token's claims with another role, keeping the original signature: a forgery."""
    body, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["role"] = role
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode() + "." + mac


def login(client: TestClient, name: str) -> str:
    answer = client.post("/api/login", json={"login": name, "password": LOGINS[name]})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


@pytest.mark.parametrize(("method", "path", "needs"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_route_refuses_missing_expired_and_forged_logins_and_wrong_roles(
    client: TestClient, method: str, path: str, needs: str
) -> None:
    auth = auth_of(client)
    operator_token = login(client, "operator")
    refusals: list[dict[str, Any]] = [
        {},
        {"headers": bearer(tokens.issue(auth.secret, tokens.Claims("operator", "operator", auth.clock() - 1)))},
        {"headers": bearer(tokens.issue("another-secret-of-forty-characters-----", tokens.Claims(
            "admin", "admin", auth.clock() + 600)))},
        {"headers": bearer(with_role(operator_token, "admin"))},
        {"headers": bearer("not-a-token")},
        {"headers": {"Cookie": f"{SESSION_COOKIE}={with_role(operator_token, 'admin')}"}},
        {"auth": ("operator", "wrong")},
    ]
    for kwargs in refusals:
        client.cookies.clear()
        answer = client.request(method, path, **kwargs)
        assert answer.status_code == 401, (kwargs, answer.status_code, answer.text)
    if needs not in ("operator", "admin") or path in STREAMS:
        return
    admin_token = login(client, "admin")
    client.cookies.clear()
    as_operator = [client.request(method, path, headers=bearer(operator_token)),
                   client.request(method, path, auth=OPERATOR)]
    for answer in as_operator:
        if needs == "admin":
            assert answer.status_code == 403, answer.text
        else:
            assert answer.status_code not in (401, 403), answer.text
    for answer in (client.request(method, path, headers=bearer(admin_token)), client.request(method, path, auth=ADMIN)):
        assert answer.status_code not in (401, 403), answer.text


def test_login_sets_a_strict_http_only_cookie_that_the_page_and_api_accept(client: TestClient) -> None:
    client.cookies.clear()
    answer = client.post("/api/login", json={"login": "admin", "password": LOGINS["admin"]})
    assert answer.status_code == 200 and answer.json()["role"] == "admin"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert client.get("/api/zones").status_code == 200  # the cookie alone signs in
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200
    client.post("/api/logout")
    assert client.get("/api/zones").status_code == 401


def test_a_browser_without_a_login_is_sent_to_the_sign_in_page(client: TestClient) -> None:
    client.cookies.clear()
    answer = client.get("/marketing", headers={"Accept": "text/html"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/marketing"
    page = client.get("/login")
    assert page.status_code == 200 and 'type="password"' in page.text
    api = client.get("/api/zones", headers={"Accept": "text/html"}, follow_redirects=False)
    assert api.status_code == 401  # the API never redirects


def test_a_token_expires_and_a_removed_login_loses_its_session(db_url: str) -> None:
    app = offline_app(db_url)
    with TestClient(app) as c:
        auth = auth_of(c)
        now = auth.clock()
        token = login(c, "operator")
        auth.clock = lambda: now + app.state.settings.session_ttl_s + 1
        answer = c.get("/api/zones", headers=bearer(token))
        assert answer.status_code == 401 and "expired" in answer.json()["detail"]
        assert answer.headers["www-authenticate"].startswith("Bearer")  # no Basic pop-up for a stale session
        auth.clock = lambda: now
        assert c.get("/api/zones", headers=bearer(token)).status_code == 200
        del app.state.settings.logins["operator"]
        assert c.get("/api/zones", headers=bearer(token)).status_code == 401


def test_failed_sign_ins_are_counted_and_then_refused_with_retry_after(db_url: str) -> None:
    app = offline_app(db_url)
    with TestClient(app) as c:
        limit = auth_of(c).throttle.per_login
        for _ in range(limit):
            wrong = c.post("/api/login", json={"login": "admin", "password": "guess"})
            assert wrong.status_code == 401
            assert wrong.headers["www-authenticate"].startswith("Bearer")  # no browser Basic dialog on the page
        refused = c.post("/api/login", json={"login": "admin", "password": LOGINS["admin"]})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert c.get("/api/zones", auth=ADMIN).status_code == 429  # Basic counts against the same limit
        assert c.get("/api/zones", auth=OPERATOR).status_code == 200  # other logins are not locked out
        health = c.get("/api/health", auth=OPERATOR).json()
        assert health["failed_logins"] == limit and health["refused_logins"] == 2
        auth_of(c).clock = lambda: 10**10  # the window has passed
        assert c.post("/api/login", json={"login": "admin", "password": LOGINS["admin"]}).status_code == 200


def test_foreign_origins_are_refused_and_cors_is_off_unless_configured(db_url: str) -> None:
    with TestClient(offline_app(db_url)) as c:
        evil = {"Origin": "https://evil.example"}
        live = c.get("/api/live", auth=OPERATOR, headers=evil)
        assert live.status_code == 403 and not live.headers["content-type"].startswith("text/event-stream")
        assert c.get("/api/zones", auth=OPERATOR, headers=evil).status_code == 403
        assert c.post("/api/login", json={"login": "admin", "password": LOGINS["admin"]}, headers=evil).status_code == 403
        assert c.get("/api/zones", auth=OPERATOR, headers={"Origin": "http://testserver"}).status_code == 200
        preflight = c.options("/api/zones", headers={**evil, "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in preflight.headers
    allowed = "https://ops.example"
    with TestClient(create_app(settings_for(db_url, unreachable_mqtt(), cors_origins=(allowed,)))) as c:
        answer = c.get("/api/zones", auth=OPERATOR, headers={"Origin": allowed})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == allowed
        assert c.get("/api/zones", auth=OPERATOR, headers={"Origin": "https://evil.example"}).status_code == 403


def test_the_live_feed_refuses_an_unauthenticated_client_before_sending_anything(client: TestClient) -> None:
    client.cookies.clear()
    answer = client.get("/api/live")
    assert answer.status_code == 401
    assert not answer.headers["content-type"].startswith("text/event-stream")
    assert "snapshot" not in answer.text
