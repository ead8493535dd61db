"""Signed, expiring links that show one member their own purchases and the decisions about them.

A member has no dashboard login. Staff issue a link (``POST /api/members/{id}/link``); the link IS the member's
authorisation for the routes of :mod:`dashboard.crm_member`, which depend on :data:`LinkedMember` (marked as an
auth dependency) and on nothing else: ``/me/{token}``. The token is ``{member}.{expires}.{signature}``, ``expires``
in Unix seconds and the signature the HMAC-SHA256 of ``{member}.{expires}`` under a key derived from the
dashboard's session secret (so links outlive a restart exactly when sign-ins do). A forged, altered or expired
token is refused with 401, and a valid token names one member, whose records are the only ones its routes read.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status

from contract.topics import NAME_PATTERN
from dashboard.auth import AuthState, auth_dependency

_TOKEN = re.compile(rf"^(?P<member>{NAME_PATTERN})\.(?P<expires>[0-9]{{1,12}})\.(?P<sig>[0-9a-f]{{64}})$")


class LinkError(ValueError):
    """A member link that is malformed, forged or expired; the message says which."""


def _signature(secret: bytes, member: str, expires: int) -> str:
    return hmac.new(secret, f"{member}.{expires}".encode(), hashlib.sha256).hexdigest()


def sign(secret: bytes, member: str, expires: datetime) -> str:
    """The token of ``member``'s link, valid until ``expires``."""
    if not re.fullmatch(NAME_PATTERN, member):
        raise LinkError(f"member id {member!r} cannot be put in a link")
    stamp = int(expires.timestamp())
    return f"{member}.{stamp}.{_signature(secret, member, stamp)}"


def verify(secret: bytes, token: str, now: datetime) -> tuple[str, datetime]:
    """The member a token was issued for and when it expires; :class:`LinkError` if it is not a valid link now."""
    found = _TOKEN.match(token)
    if found is None:
        raise LinkError("this is not a member link")
    member, stamp = found["member"], int(found["expires"])
    if not hmac.compare_digest(found["sig"], _signature(secret, member, stamp)):
        raise LinkError("this member link was not issued by this store")
    expires = datetime.fromtimestamp(stamp, UTC)
    if now >= expires:
        raise LinkError(f"this member link expired on {expires:%d %b %Y %H:%M} UTC; ask the store for a new one")
    return member, expires


def member_secret(session_secret: str) -> bytes:
    """The links' key: derived from the session secret, never equal to it (a session token is no link)."""
    return hmac.new(session_secret.encode(), b"silentcommerce member link", hashlib.sha256).digest()


def link_secret(request: Request) -> bytes:
    auth: AuthState = request.app.state.auth
    return member_secret(auth.secret)


@auth_dependency
def linked_member(request: Request, token: Annotated[str, Path(max_length=200)]) -> tuple[str, datetime]:
    """The member the path's link names, or 401: the link is the only authorisation of these routes."""
    try:
        return verify(link_secret(request), token, datetime.now(UTC))
    except LinkError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc),
                            headers={"WWW-Authenticate": 'MemberLink realm="Silent Commerce"'}) from None


LinkedMember = Annotated[tuple[str, datetime], Depends(linked_member)]
"""The member (and the link's expiry) named by the ``{token}`` of the path; 401 for any other token."""
