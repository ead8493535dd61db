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
    GATE_COIL,
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


DEFAULT_SMOOTHING: Mapping[str, float] = {"report_interval_s": 1.0, "leave_after_s": 1.5}


def gateway_config_text(
    running: RunningStore,
    *,
    mqtt: Mapping[str, Any],
    store: str,
    gateway: str,
    smoothing: Mapping[str, float] | None = None,
) -> str:
    unknown = set(mqtt) - MQTT_KEYS
    if unknown:
        raise SimulatorError(f"unknown [mqtt] keys {sorted(unknown)}; expected some of {sorted(MQTT_KEYS)}")
    lines = [f"# Gateway {gateway} of store {store} on the simulated devices of {running.plan.source}", ""]
    lines += _table("[gateway]", {"store": store, "id": gateway, "outbox": f"{gateway}-outbox.db"})
    lines += _table("[mqtt]", dict(mqtt))
    lines += _table("[smoothing]", dict(smoothing or DEFAULT_SMOOTHING))
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
        alarm = running.plan.exit_alarm()
        if alarm is not None:
            lines += _table(
                "[[actuators]]",
                {
                    "name": alarm,
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
        lane = running.plan.fast_lane
        if lane is not None and lane.gateway == gateway:
            lines += _table(
                "[[actuators]]",
                {"name": lane.actuator, "kind": "relay", "bus": "io", "unit": DEFAULT_UNIT, "address": GATE_COIL},
            )
    if io is not None:
        for gate in running.plan.exits:
            if gate.decide_at != "edge" or (gate.gateway or gateway) != gateway:
                continue
            lines += _table(
                "[[exits]]",
                {
                    "name": gate.name,
                    "inner": gate.inner,
                    "outer": gate.outer,
                    "alarm": gate.alarm or running.plan.exit_alarm(),
                    "alarm_duration_s": 3.0,
                    "window_s": gate.window_s,
                    "min_reads": gate.min_reads,
                    "min_rssi": gate.min_rssi,
                    "chatter_window_s": gate.chatter_window_s,
                    "chatter_limit": gate.chatter_limit,
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
    smoothing: Mapping[str, float] | None = None,
) -> Path:
    """Write a gateway config for every device of ``running`` to ``path`` and return the path.

    ``mqtt`` holds the ``[mqtt]`` keys (host, port, username, password or password_file, ...); ``store``
    defaults to the store file's id; ``smoothing`` the ``[smoothing]`` keys (default 1.0 s reports, 1.5 s
    to leave). Each exit gate the store file decides at the edge becomes an ``[[exits]]`` entry.
    """
    path = Path(path)
    text = gateway_config_text(
        running, mqtt=mqtt, store=store or running.plan.store_id, gateway=gateway, smoothing=smoothing
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SimulatorError(f"cannot write the gateway config {path}: {exc}") from exc
    return path
