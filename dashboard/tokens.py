"""Signed, expiring session tokens: ``base64url(json claims) "." base64url(HMAC-SHA256)``.

Pure functions (no clock, no I/O): the caller passes the time, so expiry is testable without waiting.
The claims carry the login, its role and the expiry; anything else about the login (does it still
exist, is it still that role) is checked by the caller against the current settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

MIN_SECRET_LEN = 32
"""Characters; shorter session secrets are refused outside dev mode."""


class TokenError(ValueError):
    """A token that must not be trusted; the message says why (never echoes the token)."""


@dataclass(frozen=True, slots=True)
class Claims:
    login: str
    role: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode("ascii"), hashlib.sha256).digest())


def issue(secret: str, claims: Claims) -> str:
    """A token for ``claims``, signed with ``secret``."""
    body = _b64(json.dumps({"sub": claims.login, "role": claims.role, "exp": int(claims.expires_at)}).encode())
    return f"{body}.{_mac(secret, body)}"


def verify(secret: str, token: str, now: float) -> Claims:
    """The claims of a token signed with ``secret`` that has not expired at ``now``; else :class:`TokenError`."""
    body, dot, mac = token.partition(".")
    if not dot or not body.isascii() or not hmac.compare_digest(mac.encode(), _mac(secret, body).encode()):
        raise TokenError("bad signature")
    try:
        raw = json.loads(_unb64(body))
        claims = Claims(str(raw["sub"]), str(raw["role"]), float(raw["exp"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise TokenError("malformed claims") from None
    if claims.expires_at <= now:
        raise TokenError("expired")
    return claims
