"""What a dashboard needs to run: its database, its broker login, and the operators' logins."""

from __future__ import annotations

from dataclasses import dataclass, field

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
            raise SettingsError("dashboard: no logins; nobody could sign in")
        for login, password in self.logins.items():
            if not login or ":" in login:
                raise SettingsError(f"dashboard.{login}: a login name must be non-empty and contain no ':'")
            if not password:
                raise SettingsError(f"dashboard.{login}: empty password")

