"""Hostile MQTT payloads for the fuzz tests: each one invalid, with the words its refusal must contain.

Each starts from a valid message of its kind and breaks one thing: a wrong type, NaN or Infinity, a
missing or unknown field, a wrong schema id, a negative ``seq``, a time without a zone, another store or
gateway than the topic's; or it is not a JSON object at all: invalid UTF-8, garbage, deep nesting, huge
strings, a body over the contract's 1 MiB. The cheap ones repeat to fill the count; the big ones (100 kB
and more) are kept to a few, so the broker and ingest spend their time on variety, not on copying bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import cycle, islice
from typing import Any

from contract.payloads import MAX_PAYLOAD_BYTES, MAX_READS_PER_BATCH

NOW = "2026-03-01T10:00:00Z"
MILK_EPC = "3074257BF7194E4000001A85"


@dataclass(frozen=True)
class Hostile:
    """One payload for ``kind`` on the gateway's (or the events) topic, and what its refusal must name."""

    kind: str
    payload: bytes
    names: str


def good(kind: str, store: str, gateway: str) -> dict[str, Any]:
    """A valid message of ``kind`` (``events`` for a business event) from ``gateway`` of ``store``."""
    origin = {"store": store, "gateway": gateway}
    read = {"reader": "shelf-r", "antenna": 1, "epc": MILK_EPC, "rssi": -50.0, "first_seen": NOW,
            "last_seen": NOW, "count": 3, "event": "seen", "zone": "shelf-dairy"}
    sample = {"sensor": "cooler-1-temp", "kind": "temperature", "value": 4.5, "unit": "C", "at": NOW}
    messages: dict[str, dict[str, Any]] = {
        "reads": {"schema": "sc.reads/1", **origin, "seq": 1, "sent_at": NOW, "reads": [read]},
        "sensors": {"schema": "sc.sensors/1", **origin, "seq": 1, "sent_at": NOW, "samples": [sample]},
        "status": {"schema": "sc.status/1", **origin, "state": "online", "at": NOW},
        "ack": {"schema": "sc.ack/1", "id": "cmd-1", **origin, "ok": True, "at": NOW},
        "alarms": {"schema": "sc.alarm/1", **origin, "seq": 1, "sent_at": NOW, "id": "gw1-exit-1", "gate": "exit",
                   "tag": f"EPC:{MILK_EPC}", "decided_at": NOW, "first_read_at": NOW, "latency_ms": 12.5},
        "events": {"schema": "sc.event/1", "store": store, "type": "alert", "at": NOW, "data": {"id": 1}},
    }
    return messages[kind]


# (field, wrong value, what the refusal names) per kind; the nested ones address the first read or sample.
_WRONG_TYPES = [[], {}, None, True]
_TIMES = [("2026-03-01T10:00:00", "timezone"), ("yesterday", "datetime"), (1_772_359_200, "datetime"),
          ("9999-12-31T23:59:59-14:00", "out of range"), ("2026-02-30T10:00:00Z", "datetime")]
_FIELDS: dict[str, list[tuple[str, Any, str]]] = {
    "reads": [
        ("seq", "1", "seq"), ("seq", 1.5, "seq"), ("seq", -1, "seq"), ("seq", 0, "seq"), ("seq", 2**53 + 1, "seq"),
        ("seq", float("nan"), "seq"), ("seq", True, "seq"), ("schema", "sc.reads/2", "schema"),
        ("schema", "sc.sensors/1", "schema"), ("store", "", "store"), ("gateway", "gw 1", "gateway"),
        ("reads", {}, "reads"), ("reads", "shelf", "reads"), ("reads", [1], "reads.0"),
        ("reads.0.rssi", float("nan"), "rssi"), ("reads.0.rssi", float("inf"), "rssi"),
        ("reads.0.rssi", float("-inf"), "rssi"), ("reads.0.rssi", "-50", "rssi"), ("reads.0.rssi", -500, "rssi"),
        ("reads.0.count", 0, "count"), ("reads.0.count", -3, "count"), ("reads.0.count", 2.5, "count"),
        ("reads.0.antenna", 65, "antenna"), ("reads.0.epc", "XYZ", "epc"), ("reads.0.uid", "0F003A6B5C", "exactly one"),
        ("reads.0.event", "gone", "event"), ("reads.0.zone", "shelf dairy", "zone"),
        ("reads.0.last_seen", "2026-03-01T09:00:00Z", "earlier"), ("reads.0.colour", "red", "colour"),
        ("colour", "red", "colour"), ("historical", "yes", "historical"),
        *((f"reads.0.{field}", value, field) for field in ("reader", "first_seen") for value in _WRONG_TYPES),
        *(("sent_at", value, names) for value, names in _TIMES),
        *(("reads.0.first_seen", value, names) for value, names in _TIMES),
    ],
    "sensors": [
        ("samples.0.value", float("nan"), "value"), ("samples.0.value", float("inf"), "value"),
        ("samples.0.value", 1e12, "value"), ("samples.0.value", "4.5", "value"), ("samples.0.kind", "pressure", "kind"),
        ("samples.0.unit", "degrees Celsius, roughly", "unit"), ("samples.0.at", "2026-03-01T10:00:00", "timezone"),
        ("samples", None, "samples"), ("seq", -7, "seq"), ("schema", "sc.reads/1", "schema"), ("extra", 1, "extra"),
    ],
    "status": [
        ("state", "zombie", "state"), ("state", None, "state"), ("at", "2026-03-01 10:00", "at"),
        ("devices", [{"name": "r1"}], "devices.0.protocol"), ("version", "v" * 100, "version"),
        ("schema", "sc.status/2", "schema"), ("uptime", 5, "uptime"),
    ],
    "ack": [
        ("id", "cmd 1", "id"), ("id", "", "id"), ("ok", "yes", "ok"), ("error", "e" * 300, "error"),
        ("at", 0, "at"), ("schema", None, "schema"),
    ],
    "alarms": [
        ("tag", "EPC:xyz", "tag"), ("latency_ms", -1, "latency_ms"), ("latency_ms", float("nan"), "latency_ms"),
        ("evidence", [{"zone": "exit"}], "evidence.0.at"), ("zone_sequence", ["exit"] * 65, "zone_sequence"),
        ("seq", "7", "seq"), ("decided_at", "2026-03-01T10:00:06", "timezone"),
    ],
    "events": [
        ("type", "party", "type"), ("data", [], "data"), ("data", "x", "data"), ("at", "now", "at"),
        ("store", "other store", "store"), ("schema", "sc.event/2", "schema"), ("extra", 1, "extra"),
    ],
}


def _with(message: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(message))
    *parents, last = path.split(".")
    target: Any = copy
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return copy


def _without(message: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in message.items() if key != field}


def _dumps(message: Any) -> bytes:
    return json.dumps(message).encode()  # NaN and Infinity come out as the bare words a broken sender writes


def cheap(kind: str, store: str, gateway: str, other_gateway: str) -> list[Hostile]:
    """Small hostile payloads of one kind: field by field, missing fields, another origin, not JSON."""
    base = good(kind, store, gateway)
    out = [Hostile(kind, _dumps(_with(base, path, value)), names) for path, value, names in _FIELDS[kind]]
    out += [Hostile(kind, _dumps(_without(base, field)), field) for field in base if field != "schema"]
    if kind != "events":
        out.append(Hostile(kind, _dumps({**base, "gateway": other_gateway}), other_gateway))
        out.append(Hostile(kind, _dumps({**base, "store": "otherstore"}), "otherstore"))
    text = _dumps(base)
    out += [
        Hostile(kind, b"", "JSON"), Hostile(kind, b"{not json", "JSON"), Hostile(kind, text[:-1], "JSON"),
        Hostile(kind, text + b" trailing", "JSON"), Hostile(kind, b"\xef\xbb\xbf" + text, "JSON"),
        Hostile(kind, text.replace(b'"' + store.encode(), b'"\xff\xfe' + store.encode()), "JSON"),
        Hostile(kind, b"\x00\x01\x02\xff", "JSON"),
        *(Hostile(kind, top, "object") for top in (b"[]", b"1", b'"reads"', b"null", b"true", b"[{}]")),
    ]
    return out


def big(kind: str, store: str, gateway: str) -> list[Hostile]:
    """The expensive ones, once each: deep nesting, huge strings, an unknown 500 kB key, a body over 1 MiB."""
    base = good(kind, store, gateway)
    text = _dumps(base)
    depth = 100_000
    nested = b"[" * depth + b"]" * depth
    out = [
        Hostile(kind, nested, "recursion limit"),
        Hostile(kind, b'{"a":' * depth + b"1" + b"}" * depth, "recursion limit"),
        Hostile(kind, text[:-1] + b', "deep": ' + nested + b"}", "recursion limit"),
        Hostile(kind, _dumps({**base, "k" * 500_000: 1}), "Extra inputs"),
        Hostile(kind, _dumps({**base, "store": "s" * 900_000}), "store"),
        Hostile(kind, text[:-1] + b', "pad": "' + b"x" * (MAX_PAYLOAD_BYTES + 1000) + b'"}', "exceeds"),
    ]
    if kind == "reads":
        out.append(Hostile(kind, _dumps(_with(base, "reads", [{}] * (MAX_READS_PER_BATCH + 1))), "5000"))
        out.append(Hostile(kind, _dumps(_with(base, "reads.0.reader", "r" * 900_000)), "reads.0.reader"))
    return out


def hostile_payloads(count: int, kinds: tuple[str, ...], store: str, gateway: str, other_gateway: str
                     ) -> list[Hostile]:
    """``count`` hostile payloads over ``kinds``: every big one once, then the cheap ones round-robin."""
    bigs = [h for kind in kinds for h in big(kind, store, gateway)]
    cheaps = [h for kind in kinds for h in cheap(kind, store, gateway, other_gateway)]
    assert count >= len(bigs) + len(cheaps), "count too small to hold every hostile payload once"
    return bigs + list(islice(cycle(cheaps), count - len(bigs)))
