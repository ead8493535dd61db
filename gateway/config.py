"""The gateway's TOML config: pydantic models at the trust boundary, and :func:`load_config`.

A wrong file is refused with :class:`GatewayConfigError` naming the file, the field (``readers[2].protocol``)
and what was expected. Unknown keys are errors. Relative paths are resolved against the config file's
folder. The MQTT password comes from ``SC_MQTT_PASSWORD`` if set, else ``password``, else ``password_file``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from contract.topics import NAME_PATTERN, RESERVED_GATEWAY_NAMES
from gateway.errors import GatewayConfigError
from gateway.outbox import DEFAULT_KEEP_COUNT, DEFAULT_KEEP_S

__all__ = [
    "ActuatorConfig",
    "BatchingSection",
    "BusConfig",
    "DisplayConfig",
    "ExitConfig",
    "GatewayConfig",
    "GatewayConfigError",
    "GatewaySection",
    "MqttSection",
    "ReaderConfig",
    "SensorConfig",
    "SmoothingSection",
    "load_config",
]

PASSWORD_ENV = "SC_MQTT_PASSWORD"

Name = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$")]
Url = Annotated[str, StringConstraints(min_length=1, max_length=512)]
ReaderProtocol = Literal["uhf-m100", "rdm6300", "id12la"]
DEFAULT_BAUDRATE: dict[str, int] = {"uhf-m100": 115200, "rdm6300": 9600, "id12la": 9600}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class GatewaySection(_Section):
    store: Name
    id: Name
    outbox: Path = Path("outbox.db")
    stats_interval_s: float = Field(default=60.0, gt=0, le=86400)
    historical_after_s: float = Field(
        default=30.0, gt=0, description="reads batches published later than this are marked 'historical'"
    )
    keep_delivered_s: float = Field(
        default=DEFAULT_KEEP_S, ge=0, le=30 * 86400,
        description="how long a delivered outbox entry is kept so that ingest can ask for it again ('resend')",
    )
    keep_delivered_max: int = Field(
        default=DEFAULT_KEEP_COUNT, ge=0, le=1_000_000, description="at most this many delivered entries kept"
    )

    @model_validator(mode="after")
    def _not_reserved(self) -> GatewaySection:
        if self.id in RESERVED_GATEWAY_NAMES:
            raise _FieldError("gateway.id", f"{self.id!r} is reserved (it names the business-event topics)")
        return self


class MqttSection(_Section):
    host: Annotated[str, StringConstraints(min_length=1, max_length=253)] = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = Field(default=None, description="default gw.{store}.{id}")
    password: Annotated[str, StringConstraints(min_length=1)] | None = None
    password_file: Path | None = None
    client_id: str | None = Field(default=None, description="default {store}-{id}")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=3600, ge=0, le=2**32 - 1)
    max_in_flight: int = Field(default=16, ge=1, le=1000)
    ack_timeout_s: float = Field(default=30.0, gt=0)
    tls_ca_file: Path | None = Field(default=None, description="speak TLS, trusting this CA (PEM)")
    tls_cert_file: Path | None = Field(default=None, description="a client certificate, if the broker wants one")
    tls_key_file: Path | None = None


class SmoothingSection(_Section):
    report_interval_s: float = Field(default=1.0, gt=0, le=3600)
    leave_after_s: float = Field(default=1.5, gt=0, le=3600)


class BatchingSection(_Section):
    max_reads: int = Field(default=500, ge=1, le=5000)
    max_delay_s: float = Field(default=0.05, ge=0, le=60)


class ReaderConfig(_Section):
    name: Name
    url: Url
    protocol: ReaderProtocol
    baudrate: int | None = Field(default=None, ge=300, le=4_000_000)
    antennas: dict[Annotated[int, Field(ge=0, le=64)], Name] = Field(default_factory=dict)
    repoll_after_s: float = Field(
        default=5.0, gt=0, description="uhf-m100: send multi-poll again after this long without data"
    )

    @property
    def effective_baudrate(self) -> int:
        return self.baudrate if self.baudrate is not None else DEFAULT_BAUDRATE[self.protocol]

    def zone_of(self, antenna: int) -> str | None:
        return self.antennas.get(antenna)


class BusConfig(_Section):
    name: Name
    url: Url
    baudrate: int = Field(default=9600, ge=300, le=4_000_000)
    timeout_s: float = Field(default=0.5, gt=0, le=30)


class SensorConfig(_Section):
    name: Name
    kind: Literal["temperature", "door"]
    bus: Name
    unit: int = Field(default=1, ge=0, le=247)
    address: int = Field(ge=0, le=65535)
    scale: float = Field(default=0.1, gt=0, le=1000, description="degrees per register step")
    zone: Name | None = None
    interval_s: float = Field(default=1.0, gt=0, le=86400)


class ActuatorConfig(_Section):
    name: Name
    kind: Literal["relay", "lock"]
    bus: Name
    unit: int = Field(default=1, ge=0, le=247)
    address: int = Field(ge=0, le=65535)


class DisplayConfig(_Section):
    name: Name
    url: Url
    baudrate: int = Field(default=9600, ge=300, le=4_000_000)
    width: int = Field(default=20, ge=1, le=80)


class ExitConfig(_Section):
    """An exit gate decided on the gateway: raw reads inside the door (``inner``) then outside (``outer``)."""

    name: Name
    inner: Name = Field(description="the zone inside the door, as in readers[].antennas")
    outer: Name = Field(description="the zone beyond the door, as in readers[].antennas")
    alarm: Name = Field(description="the [[actuators]] relay that sounds")
    alarm_duration_s: float = Field(default=3.0, gt=0, le=3600)
    window_s: float = Field(default=3.0, gt=0, le=3600)
    min_reads: int = Field(default=2, ge=1, le=1000)
    min_rssi: float = Field(default=-70.0, ge=-150, le=30)
    chatter_window_s: float = Field(default=300.0, ge=0, le=86400)
    chatter_limit: int = Field(default=6, ge=1, le=100_000)


class GatewayConfig(_Section):
    gateway: GatewaySection
    mqtt: MqttSection = MqttSection()
    smoothing: SmoothingSection = SmoothingSection()
    batching: BatchingSection = BatchingSection()
    readers: list[ReaderConfig] = Field(default_factory=list)
    buses: list[BusConfig] = Field(default_factory=list)
    sensors: list[SensorConfig] = Field(default_factory=list)
    actuators: list[ActuatorConfig] = Field(default_factory=list)
    displays: list[DisplayConfig] = Field(default_factory=list)
    exits: list[ExitConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_and_unique_names(self) -> GatewayConfig:
        for section in ("readers", "buses", "sensors", "actuators", "displays", "exits"):
            seen: set[str] = set()
            for index, item in enumerate(getattr(self, section)):
                if item.name in seen:
                    raise _FieldError(f"{section}[{index}].name", f"duplicate name {item.name!r}")
                seen.add(item.name)
        buses = {bus.name for bus in self.buses}
        for section in ("sensors", "actuators"):
            for index, item in enumerate(getattr(self, section)):
                if item.bus not in buses:
                    raise _FieldError(
                        f"{section}[{index}].bus",
                        f"unknown bus {item.bus!r}; expected one of {sorted(buses) or 'the [[buses]] names'}",
                    )
        targets = [a.name for a in self.actuators] + [d.name for d in self.displays]
        if len(targets) != len(set(targets)):
            raise _FieldError(
                "displays", "an actuator and a display share a name; command targets must be unique"
            )
        self._check_exits()
        return self

    def _check_exits(self) -> None:
        relays = {a.name for a in self.actuators if a.kind == "relay"}
        wired = {zone for reader in self.readers for zone in reader.antennas.values()}
        for index, gate in enumerate(self.exits):
            where = f"exits[{index}]"
            if gate.alarm not in relays:
                raise _FieldError(
                    f"{where}.alarm",
                    f"unknown relay {gate.alarm!r}; expected one of {sorted(relays) or 'the [[actuators]] relays'}",
                )
            if gate.inner == gate.outer:
                raise _FieldError(f"{where}.outer", f"inner and outer must be different zones, got {gate.inner!r}")
            for field in ("inner", "outer"):
                zone = getattr(gate, field)
                if zone not in wired:
                    raise _FieldError(
                        f"{where}.{field}",
                        f"zone {zone!r} is on no reader antenna; expected one of {sorted(wired) or 'the readers[].antennas zones'}",
                    )

    # -- derived settings -------------------------------------------------------------------------

    @property
    def store(self) -> str:
        return self.gateway.store

    @property
    def gateway_id(self) -> str:
        return self.gateway.id

    @property
    def mqtt_username(self) -> str:
        return self.mqtt.username or f"gw.{self.store}.{self.gateway_id}"

    @property
    def mqtt_client_id(self) -> str:
        return self.mqtt.client_id or f"{self.store}-{self.gateway_id}"


class _FieldError(ValueError):
    """Raised inside validators to point at one field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def load_config(path: Path | str, *, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and validate one gateway config file; any fault raises :class:`GatewayConfigError`."""
    path = Path(path)
    env = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GatewayConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GatewayConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        raise GatewayConfigError(f"{path}: {_summarise(exc)}") from None
    return _resolve(config, path, env)


def _resolve(config: GatewayConfig, path: Path, env: Mapping[str, str]) -> GatewayConfig:
    base = path.resolve().parent
    outbox = config.gateway.outbox if config.gateway.outbox.is_absolute() else base / config.gateway.outbox
    mqtt = config.mqtt
    if mqtt.password is not None and mqtt.password_file is not None:
        raise GatewayConfigError(
            f"{path}: mqtt.password_file: give either 'password' or 'password_file', not both"
        )
    password_file = mqtt.password_file
    if password_file is not None and not password_file.is_absolute():
        password_file = base / password_file
    tls = {name: value if value is None or value.is_absolute() else base / value
           for name in ("tls_ca_file", "tls_cert_file", "tls_key_file") for value in [getattr(mqtt, name)]}
    if tls["tls_ca_file"] is None and (tls["tls_cert_file"] or tls["tls_key_file"]):
        raise GatewayConfigError(f"{path}: mqtt.tls_ca_file: needed with a client certificate (TLS)")
    password = env.get(PASSWORD_ENV) or mqtt.password
    if password is None and password_file is not None:
        try:
            password = password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise GatewayConfigError(
                f"{path}: mqtt.password_file: cannot read {str(password_file)!r}: {exc.strerror or exc}"
            ) from None
        if not password:
            raise GatewayConfigError(f"{path}: mqtt.password_file: {str(password_file)!r} is empty")
    if password is None:
        raise GatewayConfigError(
            f"{path}: mqtt.password: missing; set 'password' or 'password_file', or the environment variable"
            f" {PASSWORD_ENV}"
        )
    return config.model_copy(
        update={
            "gateway": config.gateway.model_copy(update={"outbox": outbox}),
            "mqtt": mqtt.model_copy(update={"password": password, "password_file": password_file, **tls}),
        }
    )


def _summarise(exc: ValidationError, limit: int = 3) -> str:
    errors = exc.errors(include_url=False)
    parts = []
    for err in errors[:limit]:
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, _FieldError):
            parts.append(f"{cause.field}: {cause.message}")
            continue
        where = _field_name(err["loc"])
        got = ""
        if err["type"] not in ("missing",) and "input" in err and not isinstance(err["input"], dict | list):
            got = f" (got {err['input']!r})"
        parts.append(f"{where}: {_describe(err)}{got}")
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(parts) + more


def _field_name(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out or "(file)"


def _describe(err: Mapping[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "missing; this field is required"
    if err["type"] == "string_pattern_mismatch" and NAME_PATTERN in str(
        err.get("ctx", {}).get("pattern", "")
    ):
        return "expected a name of 1-64 letters, digits, '-' or '_' (not starting with '-' or '_')"
    return str(err["msg"])
