"""What a dashboard needs to run: its database, its broker login, and the operators' logins."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dashboard.errors import SettingsError
from silentcommerce.mqtt import MqttSettings

ADMIN_LOGIN = "admin"


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """``logins`` maps a login name to its password; logins named in ``admins`` may also write."""

    db_url: str
    mqtt: MqttSettings
    logins: dict[str, str]
    store: str | None = None
    """Follow only this store's topics (None: every store on the broker)."""
    admins: frozenset[str] = field(default_factory=lambda: frozenset({ADMIN_LOGIN}))
    presence_ttl_s: float = 5.0
    """A tag not re-reported in a zone for this long is no longer shown there."""
    tick_s: float = 1.0
    """How often the live feed sends presence, reads per second, sensors and gateway status."""
    client_queue: int = 256
    """Events buffered per live-feed client; a client further behind is dropped."""

    def __post_init__(self) -> None:
        if not self.logins:
            raise SettingsError("dashboard settings: 'logins' is empty; nobody could sign in")
        for login, password in self.logins.items():
            if not login or ":" in login:
                raise SettingsError(f"dashboard login {login!r}: must be non-empty and contain no ':'")
            if not password:
                raise SettingsError(f"dashboard login {login!r}: empty password")


def logins_from_credentials(path: Path) -> dict[str, str]:
    """The ``dashboard`` section of a generated ``credentials.json``: ``{"operator": pw, "admin": pw}``."""
    try:
        raw = json.loads(path.read_text())
        logins = raw["dashboard"]
    except FileNotFoundError:
        raise SettingsError(f"{path}: not found; run 'silentcommerce credentials' first") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise SettingsError(f"{path}: no 'dashboard' logins ({exc!r})") from None
    if not isinstance(logins, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in logins.items()
    ):
        raise SettingsError(f"{path}: 'dashboard' must map login names to password strings")
    return dict(logins)
