"""Signing in and out: ``POST /api/login`` answers a signed session token (the login page posts here).

These routes are public (on the app's allow-list): they are how a client gets its credentials.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dashboard import tokens
from dashboard.auth import (
    SESSION_COOKIE,
    Role,
    auth_state,
    check_origin,
    check_password,
    client_address,
    issue_session,
)
from dashboard.deps import Settings

router = APIRouter(tags=["session"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    login: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class SessionOut(BaseModel):
    model_config = ConfigDict(frozen=True)
    login: str
    role: Role
    token: str = Field(description="Send as `Authorization: Bearer <token>`; browsers get it as a cookie too.")
    expires_at: datetime


@router.post(
    "/api/login",
    response_model=SessionOut,
    summary="Sign in: a signed, expiring session token (and the browser's session cookie)",
    responses={
        401: {"description": "Unknown login or wrong password"},
        403: {"description": "Sent from another site's page"},
        429: {"description": "Too many failed sign-ins from this address or for this login (see Retry-After)"},
    },
)
def login(body: LoginIn, request: Request, response: Response, settings: Settings) -> SessionOut:
    check_origin(request, settings)
    auth = auth_state(request)
    principal = check_password(settings, auth, body.login, body.password, client_address(request),
                               scheme="Bearer")
    claims = issue_session(settings, auth, principal)
    token = tokens.issue(auth.secret, claims)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(settings.session_ttl_s), path="/", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    return SessionOut(login=principal.login, role=principal.role, token=token,
                      expires_at=datetime.fromtimestamp(claims.expires_at, UTC))


class SignedOutOut(BaseModel):
    model_config = ConfigDict(frozen=True)
    signed_out: bool = True


@router.post("/api/logout", response_model=SignedOutOut, summary="Sign out: the browser forgets its session cookie")
def logout(response: Response) -> SignedOutOut:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return SignedOutOut()
