"""Session tokens and the sign-in throttle: pure functions, the time passed in."""

from __future__ import annotations

import base64
import json

import pytest

from dashboard.throttle import LoginThrottle
from dashboard.tokens import Claims, TokenError, issue, verify

SECRET = "s" * 40


def test_a_token_verifies_until_it_expires() -> None:
    token = issue(SECRET, Claims("operator", "operator", 1000.0))
    assert verify(SECRET, token, 999.0) == Claims("operator", "operator", 1000.0)
    with pytest.raises(TokenError, match="expired"):
        verify(SECRET, token, 1000.0)


def test_another_secret_or_a_changed_claim_breaks_the_signature() -> None:
    token = issue(SECRET, Claims("operator", "operator", 1000.0))
    with pytest.raises(TokenError, match="bad signature"):
        verify("t" * 40, token, 0.0)
    body, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode() + "." + mac
    with pytest.raises(TokenError, match="bad signature"):
        verify(SECRET, forged, 0.0)


@pytest.mark.parametrize("token", ["", "no-dot", ".", "a.b.c", "é.x"])
def test_garbage_is_refused_not_crashed_on(token: str) -> None:
    with pytest.raises(TokenError):
        verify(SECRET, token, 0.0)


def test_throttle_refuses_a_login_after_its_failures_until_the_window_passes() -> None:
    throttle = LoginThrottle(per_address=100, per_login=3, window_s=60.0)
    for t in (0.0, 1.0, 2.0):
        assert throttle.retry_after("10.0.0.1", "admin", t) == 0
        throttle.record_failure("10.0.0.1", "admin", t)
    assert throttle.retry_after("10.0.0.9", "admin", 10.0) == 50  # another address, same login
    assert throttle.retry_after("10.0.0.1", "operator", 10.0) == 0  # same address, another login
    assert throttle.retry_after("10.0.0.1", "admin", 60.5) == 0  # the first failure has left the window
    assert (throttle.failed, throttle.refused) == (3, 1)


def test_throttle_refuses_an_address_guessing_many_logins_and_success_only_clears_the_login() -> None:
    throttle = LoginThrottle(per_address=4, per_login=3, window_s=60.0)
    for i in range(4):
        throttle.record_failure("10.0.0.1", f"user{i}", float(i))
    assert throttle.retry_after("10.0.0.1", "operator", 5.0) == 55
    throttle.record_failure("10.0.0.2", "admin", 5.0)
    throttle.record_success("admin")
    throttle.record_success("user0")
    assert throttle.retry_after("10.0.0.1", "user0", 5.0) == 55  # the address is still refused
