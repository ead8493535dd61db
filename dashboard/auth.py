"""HTTP Basic sign-in with two roles: ``operator`` reads, ``admin`` reads and writes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from dashboard.settings import DashboardSettings

Role = Literal["operator", "admin"]
REALM = "Silent Commerce"
_basic = HTTPBasic(realm=REALM, auto_error=False)


@dataclass(frozen=True, slots=True)
class Principal:
    login: str
    role: Role


def _challenge(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
    )


def authenticate(settings: DashboardSettings, credentials: HTTPBasicCredentials | None) -> Principal:
    """The signed-in principal, or a 401 that asks the browser for a login."""
    if credentials is None:
        raise _challenge("sign in with a dashboard login (HTTP Basic)")
    given = credentials.password.encode()
    matched: str | None = None
    for login, password in settings.logins.items():
        # compare every login so the time taken does not tell which names exist
        same_name = secrets.compare_digest(credentials.username.encode(), login.encode())
        same_password = secrets.compare_digest(given, password.encode())
        if same_name and same_password:
            matched = login
    if matched is None:
        raise _challenge("unknown login or wrong password")
    return Principal(matched, "admin" if matched in settings.admins else "operator")


def _settings(request: Request) -> DashboardSettings:
    settings: DashboardSettings = request.app.state.settings
    return settings


def signed_in(
    request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]
) -> Principal:
    return authenticate(_settings(request), credentials)


def admin_only(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    if principal.role != "admin":
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"login {principal.login!r} is an operator; changing the store needs an admin login",
        )
    return principal


Operator = Annotated[Principal, Depends(signed_in)]
Admin = Annotated[Principal, Depends(admin_only)]
