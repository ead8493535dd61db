"""Local Mosquitto: dev credentials, the ACL, and a broker started from the repository's mosquitto.conf.

Credentials are generated on the machine that runs the store and never committed: ``passwd`` (hashed by
``mosquitto_passwd``), ``acl`` (each gateway may publish only under its own topics and read only its own
``cmd``) and ``credentials.json`` (the clear-text passwords the local services use and the dashboard's
session secret, mode 0600).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from contract.topics import WORKER_STATE_FILTER, check_name, event_filter, gateway_filter, gateway_topic

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "mosquitto.conf"
TEMPLATE_DIR = ".run/broker/"
INGEST_USER = "ingest"
DASHBOARD_USER = "dashboard"
BENCH_USER = "bench"


class BrokerError(RuntimeError):
    """The broker could not be configured or started; the message says why."""


def gateway_user(store: str, gateway: str) -> str:
    """The MQTT username of one gateway ('.' cannot occur in a store or gateway name, and ':' cannot occur in a password file)."""
    return f"gw.{check_name(store, 'store')}.{check_name(gateway, 'gateway')}"


@dataclass
class Credentials:
    """Clear-text secrets of the local services; the broker only ever sees their hashes."""

    users: dict[str, str] = field(default_factory=dict)
    dashboard_logins: dict[str, str] = field(default_factory=dict)
    gateways: list[tuple[str, str]] = field(default_factory=list)
    source: Path | None = None
    """The file these came from, so that a missing user names it."""
    dashboard_session_secret: str = ""
    """Signs the dashboard's session tokens; generated once per machine."""

    def password(self, user: str) -> str:
        try:
            return self.users[user]
        except KeyError:
            where = f"{self.source}: mqtt.{user}" if self.source else f"MQTT user {user!r}"
            raise BrokerError(f"{where}: no password for this MQTT user; run 'silentcommerce credentials'") from None

    def to_json(self) -> str:
        return json.dumps(
            {
                "mqtt": self.users,
                "dashboard": self.dashboard_logins,
                "gateways": [list(g) for g in self.gateways],
                "dashboard_session_secret": self.dashboard_session_secret,
            },
            indent=2,
        )

    @classmethod
    def load(cls, path: Path) -> Credentials:
        """Read ``credentials.json``; a wrong file raises BrokerError naming the file and the field."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BrokerError(f"{path}: not found; run 'silentcommerce credentials' first") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BrokerError(f"{path}: cannot be read ({exc})") from None
        except ValueError as exc:
            raise BrokerError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise BrokerError(f"{path}: expected an object with 'mqtt', 'dashboard' and 'gateways'")
        if "mqtt" not in raw:
            raise BrokerError(f"{path}: mqtt: missing; run 'silentcommerce credentials'")
        gateways = raw.get("gateways", [])
        if not isinstance(gateways, list):
            raise BrokerError(f"{path}: gateways: expected a list of [store, gateway] pairs")
        for index, pair in enumerate(gateways):
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise BrokerError(f"{path}: gateways[{index}]: expected a [store, gateway] pair, got {pair!r}")
        session_secret = raw.get("dashboard_session_secret", "")
        if not isinstance(session_secret, str):
            raise BrokerError(f"{path}: dashboard_session_secret: expected a string")
        return cls(
            users=_secrets(path, raw, "mqtt"),
            dashboard_logins=_secrets(path, raw, "dashboard"),
            gateways=[(store, gateway) for store, gateway in gateways],
            source=path,
            dashboard_session_secret=session_secret,
        )


def _secrets(path: Path, raw: dict[str, object], section: str) -> dict[str, str]:
    """One ``name -> password`` section of the credentials file, each value checked."""
    value = raw.get(section, {})
    if not isinstance(value, dict):
        raise BrokerError(f"{path}: {section}: expected an object mapping names to passwords")
    for name, secret in value.items():
        if not isinstance(secret, str):
            raise BrokerError(f"{path}: {section}.{name}: expected a password string, got {type(secret).__name__}")
    return dict(value)


def acl_text(gateways: list[tuple[str, str]]) -> str:
    lines = [
        "# Generated by 'silentcommerce credentials'. Do not edit; do not commit.",
        f"user {INGEST_USER}",
        *(f"topic read {gateway_filter(kind)}" for kind in ("reads", "sensors", "status", "ack", "alarms")),
        f"topic write {gateway_filter('cmd')}",
        f"topic readwrite {event_filter()}",
        f"topic readwrite {WORKER_STATE_FILTER}",
        "",
        f"user {DASHBOARD_USER}",
        "topic read sc/v1/#",
        f"topic write {gateway_filter('cmd')}",
        "",
        f"user {BENCH_USER}",
        "topic readwrite bench/#",
        "",
    ]
    for store, gateway in gateways:
        lines += [
            f"user {gateway_user(store, gateway)}",
            *(f"topic write {gateway_topic(store, gateway, k)}" for k in ("reads", "sensors", "ack", "alarms")),
            f"topic readwrite {gateway_topic(store, gateway, 'status')}",
            f"topic read {gateway_topic(store, gateway, 'cmd')}",
            "",
        ]
    return "\n".join(lines)


def generate_credentials(
    directory: Path,
    gateways: list[tuple[str, str]],
    *,
    dashboard_logins: dict[str, str] | None = None,
) -> Credentials:
    """Write ``passwd``, ``acl`` and ``credentials.json`` into ``directory``; keep existing passwords."""
    directory.mkdir(parents=True, exist_ok=True)
    creds_path = directory / "credentials.json"
    creds = Credentials.load(creds_path) if creds_path.exists() else Credentials()
    wanted = [INGEST_USER, DASHBOARD_USER, BENCH_USER, *(gateway_user(s, g) for s, g in gateways)]
    for user in wanted:
        creds.users.setdefault(user, secrets.token_urlsafe(18))
    for login in ("operator", "admin"):
        creds.dashboard_logins.setdefault(login, secrets.token_urlsafe(12))
    if dashboard_logins:
        creds.dashboard_logins.update(dashboard_logins)
    creds.dashboard_session_secret = creds.dashboard_session_secret or secrets.token_urlsafe(32)
    creds.gateways = sorted(set(creds.gateways) | set(gateways))
    _write_private(creds_path, creds.to_json())
    _write_passwd(directory / "passwd", creds.users)
    _write_private(directory / "acl", acl_text(creds.gateways))
    return creds


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _write_passwd(path: Path, users: dict[str, str]) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise BrokerError("mosquitto_passwd not found: install the Debian package 'mosquitto'")
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    first = True
    for user, password in users.items():
        args = [tool, "-b", *(["-c"] if first else []), str(tmp), user, password]
        subprocess.run(args, check=True, capture_output=True)
        first = False
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class TlsListener:
    """A TLS listener beside the loopback one, for clients on other machines (docs/deploy-security.md)."""

    port: int
    cafile: Path
    """The CA that signed ``certfile`` (and, with ``require_certificate``, the clients' certificates)."""
    certfile: Path
    keyfile: Path
    bind: str | None = None
    """An address to listen on; None: every interface."""
    require_certificate: bool = False
    """Also demand a client certificate signed by ``cafile`` (the password is checked either way)."""

    def config_text(self) -> str:
        return "\n".join([
            "# TLS listener: clients off this machine connect here, never to the plain one",
            f"listener {self.port}" + (f" {self.bind}" if self.bind else ""),
            f"cafile {self.cafile.resolve()}",
            f"certfile {self.certfile.resolve()}",
            f"keyfile {self.keyfile.resolve()}",
            "tls_version tlsv1.2",
            f"require_certificate {str(self.require_certificate).lower()}",
            "",
        ])


def render_config(
    workdir: Path, port: int, *, template: Path = TEMPLATE, bind: str = "127.0.0.1", tls: TlsListener | None = None
) -> Path:
    """Copy the repository's mosquitto.conf into ``workdir`` with its paths and listener port substituted,
    and a TLS listener appended if ``tls`` is given."""
    text = template.read_text()
    if TEMPLATE_DIR not in text or not re.search(r"^listener \d+", text, re.M):
        raise BrokerError(f"{template}: expected '{TEMPLATE_DIR}' paths and a 'listener' line")
    text = text.replace(TEMPLATE_DIR, str(workdir.resolve()) + "/")
    text = re.sub(r"^listener \d+.*$", f"listener {port} {bind}", text, count=1, flags=re.M)
    # Started as root, mosquitto would drop to the 'mosquitto' user and could not read our 0600 files.
    text += f"\n# Rendered for this machine\nuser {pwd.getpwuid(os.geteuid()).pw_name}\n"
    if tls is not None:
        text += "\n" + tls.config_text()
    out = workdir / "mosquitto.conf"
    out.write_text(text)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"nothing listening on {host}:{port} after {timeout:.0f} s")


@dataclass
class Broker:
    """A running Mosquitto started from the repository's configuration."""

    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"
    tls: TlsListener | None = None
    template: Path = TEMPLATE
    """The configuration to render: the repository's, or one that adds to it (a store's bridge)."""

    def __post_init__(self) -> None:
        self.workdir = self.workdir.resolve()  # mosquitto runs inside it: every path must be absolute

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self, timeout: float = 10.0) -> None:
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if exe is None:
            raise BrokerError("mosquitto not found: install the Debian package 'mosquitto'")
        conf = render_config(self.workdir, self.port, template=self.template, tls=self.tls)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log, cwd=self.workdir)
        try:
            wait_for_port(self.host, self.port, timeout, self.process)
            if self.tls is not None:
                wait_for_port(self.tls.bind or self.host, self.tls.port, timeout, self.process)
        except BrokerError as exc:
            raise BrokerError(f"{exc}; see {self.log_path}") from None

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
