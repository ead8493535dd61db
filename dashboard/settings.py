"""What a dashboard needs to run: its database, its broker login, the operators' logins and its session secret."""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboard.errors import SettingsError
from dashboard.tokens import MIN_SECRET_LEN
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
    session_secret: str | None = None
    """Signs session tokens. None: a random one for this process (sign-ins do not outlive a restart);
    the ``dashboard`` command refuses to run without one unless in dev mode."""
    session_ttl_s: float = 8 * 3600.0
    """How long a session token from the login endpoint stays valid."""
    cors_origins: tuple[str, ...] = ()
    """Other origins (``https://host:port``) whose pages may call the API; none by default."""
    login_failures_per_address: int = 50
    login_failures_per_login: int = 10
    login_window_s: float = 300.0
    """Past that many failed sign-ins within the window, from one address or for one login, sign-ins are
    answered 429 until the oldest failure leaves the window."""

    def __post_init__(self) -> None:
        if self.session_secret is not None and len(self.session_secret) < MIN_SECRET_LEN:
            raise SettingsError(f"dashboard session secret: at least {MIN_SECRET_LEN} characters are needed")
        if not self.logins:
            raise SettingsError("dashboard: no logins; nobody could sign in")
        for login, password in self.logins.items():
            if not login or ":" in login:
                raise SettingsError(f"dashboard.{login}: a login name must be non-empty and contain no ':'")
            if not password:
                raise SettingsError(f"dashboard.{login}: empty password")

