"""Who is asking, and may they: two roles (``operator`` reads, ``admin`` also writes) and three ways to sign in.

* ``Authorization: Bearer <token>`` with a session token from ``POST /api/login`` (API clients);
* the same token in the HttpOnly, SameSite=Strict session cookie the login page gets (browsers);
* HTTP Basic with a login and its password (scripts, and clients that predate the login endpoint).

Every route depends on a function marked with :func:`auth_dependency` (here :func:`signed_in` and
:func:`admin_only`; other routers may mark their own, such as a member's signed link) unless its path is on
the app's public allow-list; the route-walk test in ``tests/security`` holds every route to that. Any
request carrying a foreign ``Origin`` is refused before its credentials are looked at, so a page on another
site cannot ride on a browser's stored login (CORS origins from the settings are the exception).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import (
    APIKeyCookie,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from dashboard import tokens
from dashboard.settings import DashboardSettings
from dashboard.throttle import LoginThrottle

Role = Literal["operator", "admin"]
REALM = "Silent Commerce"
SESSION_COOKIE = "sc_session"
AUTH_MARKER = "__silentcommerce_auth__"
_basic = HTTPBasic(realm=REALM, auto_error=False, description="A dashboard login and its password.")
_bearer = HTTPBearer(auto_error=False, description="A session token from POST /api/login.")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The login page's session cookie.")
F = TypeVar("F", bound=Callable[..., Any])


def auth_dependency(function: F) -> F:
    """Mark ``function`` as a dependency that authenticates its request (or refuses it)."""
    setattr(function, AUTH_MARKER, True)
    return function


def is_auth_dependency(call: object) -> bool:
    return getattr(call, AUTH_MARKER, False) is True


@dataclass(frozen=True, slots=True)
class Principal:
    login: str
    role: Role


@dataclass
class AuthState:
    """What signing in needs besides the settings: the session secret in use, the throttle and the clock."""

    secret: str
    throttle: LoginThrottle
    clock: Callable[[], float] = time.time

    @classmethod
    def of(cls, settings: DashboardSettings) -> AuthState:
        throttle = LoginThrottle(settings.login_failures_per_address, settings.login_failures_per_login,
                                 settings.login_window_s)
        return cls(settings.session_secret or secrets.token_urlsafe(32), throttle)


def _challenge(detail: str, scheme: str = "Basic") -> HTTPException:
    header = f'Basic realm="{REALM}", charset="UTF-8"' if scheme == "Basic" else f'Bearer realm="{REALM}"'
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": header})


def _role(settings: DashboardSettings, login: str) -> Role:
    return "admin" if login in settings.admins else "operator"


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def check_password(
    settings: DashboardSettings, auth: AuthState, login: str, password: str, address: str, *, scheme: str = "Basic"
) -> Principal:
    """The principal for a login and password, or 401; 429 with ``Retry-After`` after too many failures.

    ``scheme`` is the challenge a 401 carries: the login endpoint's is ``Bearer``, so that a browser does not
    answer a wrong password on the sign-in page with its own Basic login dialog."""
    now = auth.clock()
    wait = auth.throttle.retry_after(address, login, now)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed sign-ins from this address or for this login; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    given = password.encode()
    matched: str | None = None
    for name, secret in settings.logins.items():
        # compare every login so the time taken does not tell which names exist
        same_name = secrets.compare_digest(login.encode(), name.encode())
        same_password = secrets.compare_digest(given, secret.encode())
        if same_name and same_password:
            matched = name
    if matched is None:
        auth.throttle.record_failure(address, login, now)
        raise _challenge("unknown login or wrong password", scheme)
    auth.throttle.record_success(matched)
    return Principal(matched, _role(settings, matched))


def issue_session(settings: DashboardSettings, auth: AuthState, principal: Principal) -> tokens.Claims:
    return tokens.Claims(principal.login, principal.role, auth.clock() + settings.session_ttl_s)


def _from_token(settings: DashboardSettings, auth: AuthState, token: str) -> Principal:
    try:
        claims = tokens.verify(auth.secret, token, auth.clock())
    except tokens.TokenError as exc:
        raise _challenge(f"session token refused: {exc}; sign in again", scheme="Bearer") from None
    if claims.login not in settings.logins or claims.role != _role(settings, claims.login):
        raise _challenge("session token refused: the login or its role has changed; sign in again", "Bearer")
    return Principal(claims.login, claims.role)


def check_origin(request: Request, settings: DashboardSettings) -> None:
    """403 for a request a browser sent from another site's page (its ``Origin`` is neither ours nor allowed)."""
    origin = request.headers.get("origin")
    if origin is None or origin in settings.cors_origins:
        return
    if urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"cross-origin request from {origin!r} refused")


def _settings(request: Request) -> DashboardSettings:
    settings: DashboardSettings = request.app.state.settings
    return settings


def auth_state(request: Request) -> AuthState:
    state: AuthState = request.app.state.auth
    return state


@auth_dependency
def signed_in(
    request: Request,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """The signed-in principal (any role), or 401 (403 for a foreign origin)."""
    settings = _settings(request)
    check_origin(request, settings)
    auth = auth_state(request)
    if bearer is not None:
        return _from_token(settings, auth, bearer.credentials)
    if basic is not None:
        return check_password(settings, auth, basic.username, basic.password, client_address(request))
    if cookie is not None:
        return _from_token(settings, auth, cookie)
    raise _challenge("sign in: POST /api/login for a session token, or HTTP Basic")


@auth_dependency
def admin_only(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    """The signed-in principal if an admin; 403 for an operator."""
    if principal.role != "admin":
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"login {principal.login!r} is an operator; changing the store needs an admin login",
        )
    return principal


Operator = Annotated[Principal, Depends(signed_in)]
Admin = Annotated[Principal, Depends(admin_only)]
Auth = Annotated[AuthState, Depends(auth_state)]
