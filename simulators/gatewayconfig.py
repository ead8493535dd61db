"""Write the gateway config (the shared gateway-config TOML format) for a running simulated store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readers.modbus import (
    ALARM_COIL,
    DEFAULT_SCALE,
    DEFAULT_UNIT,
    DOOR_INPUT,
    LOCK_COIL,
    TEMPERATURE_REGISTER,
)
from simulators.errors import SimulatorError

if TYPE_CHECKING:
    from simulators.main import RunningStore

MQTT_KEYS = frozenset(
    {"host", "port", "username", "password", "password_file", "client_id", "keepalive_s", "session_expiry_s"}
)


def toml_value(value: Any) -> str:
    """One TOML value: strings as basic strings (JSON escapes are valid TOML), inline tables for mappings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise SimulatorError(f"cannot write {value!r} ({type(value).__name__}) into a gateway config")


def _table(header: str, entries: Mapping[str, Any]) -> list[str]:
    return [
        header,
        *(f"{key} = {toml_value(value)}" for key, value in entries.items() if value is not None),
        "",
    ]


def gateway_config_text(running: RunningStore, *, mqtt: Mapping[str, Any], store: str, gateway: str) -> str:
    unknown = set(mqtt) - MQTT_KEYS
    if unknown:
        raise SimulatorError(f"unknown [mqtt] keys {sorted(unknown)}; expected some of {sorted(MQTT_KEYS)}")
    lines = [f"# Gateway {gateway} of store {store} on the simulated devices of {running.plan.source}", ""]
    lines += _table("[gateway]", {"store": store, "id": gateway, "outbox": f"{gateway}-outbox.db"})
    lines += _table("[mqtt]", dict(mqtt))
    lines += _table("[smoothing]", {"report_interval_s": 1.0, "leave_after_s": 1.5})
    lines += _table("[batching]", {"max_reads": 500, "max_delay_s": 0.05})
    for endpoint in running.endpoints.values():
        if endpoint.kind in ("uhf", "card"):
            lines += _table(
                "[[readers]]",
                {
                    "name": endpoint.name,
                    "url": endpoint.url,
                    "protocol": endpoint.protocol,
                    "baudrate": endpoint.baudrate,
                    "antennas": {str(endpoint.antenna): endpoint.zone},
                },
            )
    io = running.endpoints.get("io")
    if io is not None:
        lines += _table("[[buses]]", {"name": "io", "url": io.url, "baudrate": io.baudrate})
        for cooler in running.plan.zones_of("cooler")[:1]:
            lines += _table(
                "[[sensors]]",
                {
                    "name": f"{cooler.name}-temp",
                    "kind": "temperature",
                    "bus": "io",
                    "unit": DEFAULT_UNIT,
                    "address": TEMPERATURE_REGISTER,
                    "scale": DEFAULT_SCALE,
                    "zone": cooler.name,
                    "interval_s": 1.0,
                },
            )
            lines += _table(
                "[[sensors]]",
                {
                    "name": f"{cooler.name}-door",
                    "kind": "door",
                    "bus": "io",
                    "unit": DEFAULT_UNIT,
                    "address": DOOR_INPUT,
                    "zone": cooler.name,
                    "interval_s": 1.0,
                },
            )
        for exit_zone in running.plan.zones_of("exit")[:1]:
            lines += _table(
                "[[actuators]]",
                {
                    "name": exit_zone.alarm or f"{exit_zone.name}-alarm",
                    "kind": "relay",
                    "bus": "io",
                    "unit": DEFAULT_UNIT,
                    "address": ALARM_COIL,
                },
            )
        for cooler in running.plan.zones_of("cooler")[:1]:
            lines += _table(
                "[[actuators]]",
                {
                    "name": f"{cooler.name}-lock",
                    "kind": "lock",
                    "bus": "io",
                    "unit": DEFAULT_UNIT,
                    "address": LOCK_COIL,
                },
            )
    for endpoint in running.endpoints.values():
        if endpoint.kind == "display":
            lines += _table(
                "[[displays]]",
                {"name": endpoint.name, "url": endpoint.url, "baudrate": endpoint.baudrate, "width": 20},
            )
    return "\n".join(lines).rstrip() + "\n"


def write_gateway_config(
    running: RunningStore,
    path: Path | str,
    *,
    mqtt: Mapping[str, Any],
    store: str | None = None,
    gateway: str = "gw1",
) -> Path:
    """Write a gateway config for every device of ``running`` to ``path`` and return the path.

    ``mqtt`` holds the ``[mqtt]`` keys (host, port, username, password or password_file, ...); ``store``
    defaults to the store file's id.
    """
    path = Path(path)
    text = gateway_config_text(running, mqtt=mqtt, store=store or running.plan.store_id, gateway=gateway)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SimulatorError(f"cannot write the gateway config {path}: {exc}") from exc
    return path
