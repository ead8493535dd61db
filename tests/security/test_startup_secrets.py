"""Start-up refuses missing, short or empty secrets outside dev mode; the credentials command makes real ones."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dashboard.errors import SettingsError
from dashboard.settings import DashboardSettings
from silentcommerce.broker import Credentials, generate_credentials
from silentcommerce.cli import app
from silentcommerce.mqtt import MqttSettings
from tests.fixtures.servers import require_executable


def credentials_file(tmp_path: Path, *, session_secret: str = "", mqtt_password: str = "p" * 24) -> Path:
    path = tmp_path / "credentials.json"
    creds = Credentials(users={"dashboard": mqtt_password}, dashboard_logins={"operator": "o" * 16, "admin": "a" * 16},
                        dashboard_session_secret=session_secret)
    path.write_text(creds.to_json())
    return path


def run_dashboard(credentials: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["dashboard", "--credentials", str(credentials), *extra], env={"SC_DEV": ""})
    return result.exit_code, result.output


@pytest.mark.parametrize("secret", ["", "too-short"])
def test_dashboard_refuses_a_missing_or_short_session_secret(tmp_path: Path, secret: str) -> None:
    code, output = run_dashboard(credentials_file(tmp_path, session_secret=secret))
    assert code == 2 and "dashboard_session_secret" in output


def test_dashboard_refuses_an_empty_broker_password(tmp_path: Path) -> None:
    code, output = run_dashboard(credentials_file(tmp_path, session_secret="s" * 40, mqtt_password=""))
    assert code == 2 and "empty password" in output


def test_settings_refuse_a_short_secret_and_allow_none_for_a_throwaway_one() -> None:
    with pytest.raises(SettingsError, match="at least 32"):
        DashboardSettings(db_url="sqlite://", mqtt=MqttSettings(), logins={"operator": "x"}, session_secret="short")
    assert DashboardSettings(db_url="sqlite://", mqtt=MqttSettings(), logins={"operator": "x"}).session_secret is None


def test_credentials_command_writes_a_private_per_machine_session_secret(tmp_path: Path) -> None:
    require_executable("mosquitto_passwd", "/usr/bin/mosquitto_passwd", package="mosquitto")
    first = generate_credentials(tmp_path / "a", [("s1", "gw1")])
    again = generate_credentials(tmp_path / "a", [("s1", "gw1")])
    other = generate_credentials(tmp_path / "b", [("s1", "gw1")])
    assert len(first.dashboard_session_secret) >= 32
    assert again.dashboard_session_secret == first.dashboard_session_secret  # kept across runs
    assert other.dashboard_session_secret != first.dashboard_session_secret  # never a shared default
    path = tmp_path / "a" / "credentials.json"
    assert json.loads(path.read_text())["dashboard_session_secret"] == first.dashboard_session_secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_client_certificate_without_a_ca_is_refused(tmp_path: Path) -> None:
    code, output = run_dashboard(credentials_file(tmp_path, session_secret="s" * 40), "--mqtt-tls-cert", "gw1.crt")
    assert code == 2 and "--mqtt-tls-ca" in output
