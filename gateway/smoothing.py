"""Raw reads in, smoothed reads out. Pure: time is passed in; no clock, thread or I/O here.

Per (reader, antenna, tag) — the dedup window is one report interval per tag and antenna:

* the first read gives a ``seen`` read at once (count 1);
* while reads continue, one ``seen`` per ``report_interval_s`` carries the number of reads and the peak RSSI
  since the previous report (``first_seen``/``last_seen`` span those reads);
* when no read came for ``leave_after_s``, any reads not yet reported go out as a last ``seen`` and then a
  ``left`` whose ``first_seen`` is the start of the presence, ``last_seen`` its last read, ``count`` the
  total number of reads and ``rssi`` the presence's peak.

So the counts of all ``seen`` reads add up to the raw reads, and every ``seen`` is followed by a ``left``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contract import TagRead


@dataclass(frozen=True, slots=True, kw_only=True)
class RawRead:
    """One read as a reader reported it: a UHF tag (``epc``) or a 125 kHz card (``uid``)."""

    reader: str
    antenna: int
    zone: str | None
    epc: str | None = None
    uid: str | None = None
    rssi: float | None = None
    at: datetime

    def __post_init__(self) -> None:
        if (self.epc is None) == (self.uid is None):
            raise ValueError("a raw read carries exactly one of 'epc' or 'uid'")

    @property
    def key(self) -> tuple[str, int, str]:
        tag = f"EPC:{self.epc}" if self.epc is not None else f"UID:{self.uid}"
        return (self.reader, self.antenna, tag)


@dataclass(slots=True)
class _Presence:
    sample: RawRead
    first_seen: datetime
    last_seen: datetime
    total: int
    peak: float | None
    last_report: datetime
    window_first: datetime | None = None
    window_last: datetime | None = None
    window_count: int = 0
    window_peak: float | None = None


def _peak(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


class Smoother:
    """Turns a stream of :class:`RawRead` into ``seen``/``left`` :class:`TagRead` s (see the module doc)."""

    def __init__(self, report_interval_s: float, leave_after_s: float) -> None:
        if report_interval_s <= 0 or leave_after_s <= 0:
            raise ValueError("report_interval_s and leave_after_s must be positive")
        self.report_interval = timedelta(seconds=report_interval_s)
        self.leave_after = timedelta(seconds=leave_after_s)
        self._present: dict[tuple[str, int, str], _Presence] = {}

    @property
    def present(self) -> int:
        """How many (reader, antenna, tag) are currently present."""
        return len(self._present)

    def observe(self, raw: RawRead, now: datetime) -> list[TagRead]:
        out: list[TagRead] = []
        key = raw.key
        state = self._present.get(key)
        if state is not None and now - state.last_seen >= self.leave_after:
            out += self._leave(key, state)
            state = None
        if state is None:
            self._present[key] = _Presence(
                sample=raw, first_seen=raw.at, last_seen=raw.at, total=1, peak=raw.rssi, last_report=now
            )
            out.append(self._read(raw, raw.at, raw.at, 1, raw.rssi, "seen"))
            return out
        at = max(raw.at, state.last_seen)
        state.last_seen = at
        state.total += 1
        state.peak = _peak(state.peak, raw.rssi)
        if state.window_count == 0:
            state.window_first = at
        state.window_last = at
        state.window_count += 1
        state.window_peak = _peak(state.window_peak, raw.rssi)
        if now - state.last_report >= self.report_interval:
            out.append(self._report(state, now))
        return out

    def tick(self, now: datetime) -> list[TagRead]:
        """Reports due at ``now``: periodic ``seen`` of present tags and ``left`` of silent ones."""
        out: list[TagRead] = []
        for key in sorted(self._present):
            state = self._present[key]
            if now - state.last_seen >= self.leave_after:
                out += self._leave(key, state)
            elif state.window_count and now - state.last_report >= self.report_interval:
                out.append(self._report(state, now))
        return out

    def flush(self, now: datetime) -> list[TagRead]:
        """Report every read not reported yet (at a clean stop); tags stay present."""
        return [self._report(s, now) for _, s in sorted(self._present.items()) if s.window_count]

    # -- helpers ----------------------------------------------------------------------------------

    def _leave(self, key: tuple[str, int, str], state: _Presence) -> list[TagRead]:
        out: list[TagRead] = []
        if state.window_count:
            out.append(self._report(state, state.last_seen))
        del self._present[key]
        out.append(
            self._read(state.sample, state.first_seen, state.last_seen, state.total, state.peak, "left")
        )
        return out

    def _report(self, state: _Presence, now: datetime) -> TagRead:
        assert state.window_first is not None and state.window_last is not None
        read = self._read(
            state.sample, state.window_first, state.window_last, state.window_count, state.window_peak, "seen"
        )
        state.last_report = now
        state.window_first = state.window_last = state.window_peak = None
        state.window_count = 0
        return read

    @staticmethod
    def _read(
        raw: RawRead,
        first: datetime,
        last: datetime,
        count: int,
        rssi: float | None,
        event: Literal["seen", "left"],
    ) -> TagRead:
        return TagRead(
            reader=raw.reader,
            antenna=raw.antenna,
            epc=raw.epc,
            uid=raw.uid,
            rssi=rssi,
            first_seen=first,
            last_seen=last,
            count=count,
            event=event,
            zone=raw.zone,
        )
