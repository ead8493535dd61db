"""The hot ``reads`` kind decoded a whole batch at once, to plain rows, with the contract's exact verdicts.

Ingest receives reads batches of hundreds of reads, many per second; validating them with the
:class:`~contract.payloads.ReadsBatch` model costs a model object and two time validators per read (most of
ingest's CPU once). :func:`decode_reads` parses the JSON once (orjson) and checks the usual shape of a
batch field by field in one pass: the names a batch repeats (readers, zones) and its time strings are
checked once per batch. It accepts only what the model accepts and yields the same values (hex upper-cased,
times in UTC). Whatever it does not recognise as plainly valid (any fault, and the rarer valid spellings: an
integer ``rssi``, a time with more than six decimals, a ``schema_`` key, ...) goes to the model itself, so
a refused payload gets the model's own reason and an unusual valid one its own values. That split is what
keeps the contract one: this module only ever says yes early.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

from contract.payloads import (
    MAX_PAYLOAD_BYTES,
    MAX_READS_PER_BATCH,
    READS_SCHEMA,
    ReadsBatch,
    TagRead,
    decode,
)
from contract.topics import NAME_PATTERN


@dataclass(slots=True)
class ReadRow:
    """One smoothed read of a batch: the fields of :class:`~contract.payloads.TagRead`. Not frozen: a frozen
    dataclass sets each field through ``object.__setattr__``, several times slower per read; nothing
    changes a row once decoded."""

    reader: str
    antenna: int
    epc: str | None
    uid: str | None
    rssi: float | None
    first_seen: datetime
    last_seen: datetime
    count: int
    event: Literal["seen", "left"]
    zone: str | None

    @property
    def tag(self) -> str:
        """The tag's identity as ingest keys it: ``EPC:…`` or ``UID:…``."""
        return f"EPC:{self.epc}" if self.epc is not None else f"UID:{self.uid}"


@dataclass(frozen=True, slots=True)
class ReadRows:
    """A validated reads batch: the fields of :class:`~contract.payloads.ReadsBatch`, its reads as rows."""

    store: str
    gateway: str
    seq: int
    sent_at: datetime
    historical: bool
    reads: tuple[ReadRow, ...]

    @classmethod
    def of(cls, batch: ReadsBatch) -> ReadRows:
        return cls(batch.store, batch.gateway, batch.seq, batch.sent_at, batch.historical,
                   tuple(_row(read) for read in batch.reads))


def _row(read: TagRead) -> ReadRow:
    return ReadRow(read.reader, read.antenna, read.epc, read.uid, read.rssi, read.first_seen, read.last_seen,
                   read.count, read.event, read.zone)


def decode_reads(payload: bytes | str) -> ReadRows:
    """Validate a ``reads`` payload; any fault raises :class:`~contract.errors.ContractError` with the
    reason :func:`~contract.payloads.decode` gives for :class:`~contract.payloads.ReadsBatch`."""
    if len(payload) <= MAX_PAYLOAD_BYTES:
        try:
            rows = _plain(orjson.loads(payload))
        except (orjson.JSONDecodeError, _Unusual, OverflowError, ValueError, TypeError, KeyError):
            rows = None
        if rows is not None:
            return rows
    return ReadRows.of(decode(ReadsBatch, payload))


class _Unusual(Exception):
    """Not a plainly valid batch: the model decides."""


_NAME: Final = re.compile(NAME_PATTERN).fullmatch
_EPC: Final = re.compile(r"[0-9A-Fa-f]{4,124}").fullmatch
_UID: Final = re.compile(r"[0-9A-Fa-f]{4,32}").fullmatch
_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])").fullmatch
"""RFC 3339 as gateways write it: every string this matches, ``datetime.fromisoformat`` reads as the model
does, or refuses (hour 24, second 60, 30 February: then the model gives the reason). The offset's range is
checked here: ``fromisoformat`` would take ``+12:61``, which the model refuses."""
_BATCH_KEYS: Final = frozenset({"schema", "store", "gateway", "seq", "sent_at", "historical", "reads"})
_READ_KEYS: Final = frozenset(TagRead.model_fields)
_MAX_SEQ: Final = 2**53
_EVENTS: Final = frozenset({"seen", "left"})


def _plain(data: Any) -> ReadRows | None:
    """The batch, if ``data`` is a plainly valid one; None (or :class:`_Unusual`) for the model to decide."""
    if type(data) is not dict or not data.keys() <= _BATCH_KEYS or data.get("schema", READS_SCHEMA) != READS_SCHEMA:
        return None
    store, gateway, seq, reads = data["store"], data["gateway"], data["seq"], data["reads"]
    historical = data.get("historical", False)
    if (type(store) is not str or not _NAME(store) or type(gateway) is not str or not _NAME(gateway)
            or type(seq) is not int or not 1 <= seq <= _MAX_SEQ or type(historical) is not bool
            or type(reads) is not list or len(reads) > MAX_READS_PER_BATCH):
        return None
    times: dict[str, datetime] = {}
    """Time string -> its time: parsed once per batch (a batch's reads share a handful of distinct times)."""
    names: set[str] = set()
    """The readers and zones found valid in this batch (a batch names a few, over and over)."""
    rows = tuple(_read(read, times, names) for read in reads)
    return ReadRows(store, gateway, seq, _time(data["sent_at"], times), historical, rows)


def _time(text: Any, cache: dict[str, datetime]) -> datetime:
    if type(text) is not str or not _TIME(text):
        raise _Unusual
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)  # OverflowError beyond year 1 or 9999: the model says so
    cache[text] = moment
    return moment


def _read(read: Any, times: dict[str, datetime], names: set[str]) -> ReadRow:
    if type(read) is not dict or not read.keys() <= _READ_KEYS:
        raise _Unusual
    reader, antenna, count, event = read["reader"], read["antenna"], read["count"], read["event"]
    epc, uid, rssi, zone = read.get("epc"), read.get("uid"), read.get("rssi"), read.get("zone")
    if reader not in names:
        if type(reader) is not str or not _NAME(reader):
            raise _Unusual
        names.add(reader)
    if zone is not None and zone not in names:
        if type(zone) is not str or not _NAME(zone):
            raise _Unusual
        names.add(zone)
    if epc is not None:
        if uid is not None or type(epc) is not str or not _EPC(epc):
            raise _Unusual
        epc = epc.upper()
    elif type(uid) is not str or not _UID(uid):
        raise _Unusual
    else:
        uid = uid.upper()
    if (type(antenna) is not int or not 0 <= antenna <= 64 or type(count) is not int or not 1 <= count <= 1_000_000
            or event not in _EVENTS or (rssi is not None and (type(rssi) is not float or not -150 <= rssi <= 30))):
        raise _Unusual
    # a cached key is a string, so nothing else finds one (an unhashable value raises TypeError: unusual)
    first, last = read["first_seen"], read["last_seen"]
    first_seen, last_seen = times.get(first) or _time(first, times), times.get(last) or _time(last, times)
    if last_seen < first_seen:
        raise _Unusual
    return ReadRow(reader, antenna, epc, uid, rssi, first_seen, last_seen, count, event, zone)
