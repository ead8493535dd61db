"""Latency under a fixed moderate load, through the real gateway and ingest processes.

The bench holds the device side of five PTYs (a shelf UHF reader, the lane's UHF and card readers, the exit
gate's inner and outer UHF readers) and of a Modbus I/O board behind a null modem; ``silentcommerce
gateway`` opens the other ends exactly as it opens real readers, and ``silentcommerce ingest`` serves the
bench store. While a background thread writes shelf tag notices at ``rate`` frames per second:

* **edge**: an unpaid item is read inside the door, then outside; the time runs from writing the outside
  frame into its PTY to the alarm relay's coil write arriving at the I/O board (the gateway's
  :class:`gateway.edge.ExitGuard`, no broker or ingest in between);
* **central**: a member's card and an item are read in the lane (the item joins the basket), then the item
  goes out through the gate; the time runs from writing the outside frame to the ``transaction`` event,
  published by ingest after its commit, arriving at a subscriber.

The gateway process's peak RSS (``VmHWM``) is read at the end, under that load.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from contract import BusinessEvent, decode
from contract.topics import event_filter
from readers.em4100 import encode_card
from readers.epc import encode_sgtin96
from readers.uhf import encode_tag_notice
from silentcommerce.bench.rig import BenchRig, StoreDatabase, peak_rss_kb, wait_until
from silentcommerce.bench.seed import prepare_database
from silentcommerce.bench.workload import STORE, StockItem, stock
from silentcommerce.broker import DASHBOARD_USER
from silentcommerce.mqtt import InboundMessage, MqttLink
from silentcommerce.processes import ManagedProcess
from simulators.hub import DeviceHub
from simulators.links import PtyPair
from simulators.modbus_device import ModbusIoDevice

GATEWAY = "gw1"
UHF_READERS = {"shelf-uhf": "shelf-1", "lane-uhf": "lane-1", "exit-inner-uhf": "exit-inner",
               "exit-outer-uhf": "exit-outer"}
CARD_READER = "lane-card"
ALARM_COIL = 0
ALARM_DURATION_S = 0.2
LEAVE_AFTER_S = 0.5
"""The gateway's ``leave_after``: a card unheard this long has left the lane; the next shopper waits for it."""
CARD_REPEAT_S = 0.1
"""How often the lane's readers hear a card or an item held in their field."""
STEP_S = 0.02
"""Between the inside and the outside read of a walk-out."""
SAMPLE_TIMEOUT_S = 5.0
LOAD_TICK_S = 0.01
RELAY_POLL_S = 0.0005
"""Half a millisecond: a finer resolution than the figure needs, and cheap (a list's tail is looked at)."""
STOCK = 10_000
MEMBERS = 40
"""The bench store's members B-0001 … B-0040 (cards UID:BE00000001 …), taken in turn."""
UNPAID_GTIN, UNPAID_SERIALS = "04012345000115", 50_000_000
BASKET_GTIN, BASKET_SERIALS = "04012345000214", 60_000_000
"""Items of the catalog's GTINs with serials far from the stock's: new to the store, known by their GTIN."""


@dataclass
class Percentiles:
    samples_ms: list[float] = field(default_factory=list)
    timeouts: int = 0
    not_joined: int = 0
    """Central path: shoppers whose item did not join the basket in time (not timed)."""

    def at(self, q: float) -> float | None:
        """Nearest-rank percentile (``q`` in 0–100); ``None`` without samples."""
        if not self.samples_ms:
            return None
        ordered = sorted(self.samples_ms)
        return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class LatencyResult:
    rate_asked: int
    rate_written: float
    edge: Percentiles
    central: Percentiles
    gateway_peak_rss_kb: int


class Devices:
    """The bench's side of the gateway's serial ports, and the I/O board that holds the alarm relay."""

    def __init__(self) -> None:
        self.ptys = {name: PtyPair.open() for name in (*UHF_READERS, CARD_READER)}
        self.hub = DeviceHub()
        self.hub.start()
        self.modem = self.hub.add_null_modem()
        self.io = ModbusIoDevice("io")
        self.io.serve(self.modem.device_path)

    def write(self, reader: str, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.ptys[reader].master, view):]
            except BlockingIOError:  # the gateway is behind: wait for room rather than drop a frame
                select.select([], [self.ptys[reader].master], [], 0.1)

    def greeted(self, reader: str) -> bool:
        """Whether the gateway has opened ``reader``'s port (it sends a UHF module the multi-poll command)."""
        with contextlib.suppress(BlockingIOError):
            return bool(os.read(self.ptys[reader].master, 4096))
        return False

    def stop(self) -> None:
        self.io.stop()
        self.hub.stop()
        for pair in self.ptys.values():
            pair.close()


def gateway_config(rig: BenchRig, devices: Devices, path: Path) -> Path:
    assert rig.broker is not None
    readers = "".join(
        f'[[readers]]\nname = "{name}"\nurl = "{devices.ptys[name].path}"\nprotocol = "uhf-m100"\n'
        f'antennas = {{ "1" = "{zone}" }}\n\n' for name, zone in UHF_READERS.items())
    readers += (f'[[readers]]\nname = "{CARD_READER}"\nurl = "{devices.ptys[CARD_READER].path}"\n'
                f'protocol = "rdm6300"\nantennas = {{ "0" = "lane-1" }}\n')
    path.write_text(f"""
[gateway]
store = "{STORE}"
id = "{GATEWAY}"
outbox = "{GATEWAY}-outbox.db"

[mqtt]
port = {rig.broker.port}
password_file = "{rig.gateway_password_file(GATEWAY)}"

[smoothing]
report_interval_s = 1.0
leave_after_s = {LEAVE_AFTER_S}

{readers}
[[buses]]
name = "io"
url = "{devices.modem.host_path}"

[[actuators]]
name = "exit-alarm"
kind = "relay"
bus = "io"
address = {ALARM_COIL}

[[exits]]
name = "exit"
inner = "exit-inner"
outer = "exit-outer"
alarm = "exit-alarm"
alarm_duration_s = {ALARM_DURATION_S}
min_reads = 1
""")
    return path


class ShelfLoad:
    """A thread writing shelf tag notices at ``rate`` frames per second, in 10 ms slices."""

    def __init__(self, devices: Devices, items: list[StockItem], rate: int) -> None:
        self._frames = [encode_tag_notice(i.epc, rssi=-55) for i in items]
        self._devices, self._rate = devices, rate
        self._stop = threading.Event()
        self.written = 0
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="bench-shelf-load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def rate(self) -> float:
        """Frames per second written so far."""
        elapsed = time.monotonic() - self._started
        return self.written / elapsed if elapsed > 0 else 0.0

    def _run(self) -> None:
        self._started = start = time.monotonic()
        turn = 0
        while not self._stop.is_set():
            due = int((time.monotonic() - start) * self._rate) - self.written
            if due > 0:
                chunk = b"".join(self._frames[(turn + k) % len(self._frames)] for k in range(due))
                self._devices.write("shelf-uhf", chunk)
                turn += due
                self.written += due
            self._stop.wait(LOAD_TICK_S)


class Events:
    """The business events ingest publishes, with the time each arrived here."""

    def __init__(self, rig: BenchRig) -> None:
        self._arrived = threading.Condition()
        self._seen: list[tuple[float, BusinessEvent]] = []
        self.link = MqttLink(rig.mqtt(DASHBOARD_USER, "bench-events"), subscriptions=[(event_filter(STORE), 1)],
                             on_message=self._on_message)

    def _on_message(self, message: InboundMessage) -> None:
        arrived = time.monotonic()
        event = decode(BusinessEvent, message.payload)
        with self._arrived:
            self._seen.append((arrived, event))
            self._arrived.notify_all()

    def wait_for(self, match: Callable[[BusinessEvent], bool], since: float, timeout: float) -> float | None:
        """When the first event ``match`` accepts arrived at or after ``since``; ``None`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        checked = 0
        with self._arrived:
            while True:
                for at, event in self._seen[checked:]:
                    if at >= since and match(event):
                        return at
                checked = len(self._seen)
                left = deadline - time.monotonic()
                if left <= 0 or not self._arrived.wait(left):
                    return None


def measure_latency(rig: BenchRig, *, rate: int, duration_s: float) -> LatencyResult:
    with contextlib.ExitStack() as cleanup:
        devices = Devices()
        cleanup.callback(devices.stop)
        database = rig.database("latency")
        items = stock(STOCK)
        prepare_database(database, items)
        events = Events(rig)
        events.link.start()
        cleanup.callback(events.link.stop)
        ingest = rig.start_ingest("ingest-latency", database)
        cleanup.callback(rig.release, ingest)
        config = gateway_config(rig, devices, rig.workdir / "gw1.toml")
        gateway = rig.spawn("gateway", "gateway", "--config", str(config))
        cleanup.callback(rig.release, gateway)
        store = StoreDatabase(database)
        cleanup.callback(store.close)
        watch = [ingest, gateway]
        wait_until(lambda: store.online([GATEWAY]), 120, "ingest to record the gateway online", watch=watch)
        for reader in UHF_READERS:
            wait_until(partial(devices.greeted, reader), 30, f"the gateway to open {reader}", watch=watch)
        load = ShelfLoad(devices, [i for i in items if i.zone == "shelf-1"], rate)
        load.start()
        cleanup.callback(load.stop)
        time.sleep(min(2.0, duration_s / 4))  # the load reaches ingest before anything is timed
        edge = _edge(devices, duration_s, watch)
        central = _central(devices, events, duration_s, watch)
        rss = peak_rss_kb(gateway)
        written = load.rate()
    return LatencyResult(rate, written, edge, central, rss)


def _edge(devices: Devices, duration_s: float, watch: list[ManagedProcess]) -> Percentiles:
    result = Percentiles()
    deadline = time.monotonic() + duration_s
    serial = UNPAID_SERIALS
    while time.monotonic() < deadline:
        _check(watch)
        serial += 1
        epc = encode_sgtin96(UNPAID_GTIN, serial)
        before = len(devices.io.coil_writes)

        def relay(state: bool, since: int = before) -> float | None:
            return time.monotonic() if (ALARM_COIL, state) in devices.io.coil_writes[since:] else None

        devices.write("exit-inner-uhf", encode_tag_notice(epc, rssi=-50))
        time.sleep(STEP_S)
        sent = time.monotonic()
        devices.write("exit-outer-uhf", encode_tag_notice(epc, rssi=-50))
        _record(result, sent, _poll(lambda: relay(True), SAMPLE_TIMEOUT_S))
        _poll(lambda: relay(False), SAMPLE_TIMEOUT_S)
    return result


def _central(devices: Devices, events: Events, duration_s: float, watch: list[ManagedProcess]) -> Percentiles:
    result = Percentiles()
    deadline = time.monotonic() + duration_s
    shopper = 0
    while time.monotonic() < deadline or not (result.samples_ms or result.timeouts or result.not_joined):
        _check(watch)
        shopper += 1
        outcome = _shop(devices, events, (shopper - 1) % MEMBERS + 1, BASKET_SERIALS + shopper)
        if outcome is None:  # ingest is far behind (or the lane still held the last shopper): not timed
            result.not_joined += 1
            continue
        sent, committed = outcome
        _record(result, sent, committed)
        # The card's 'left' takes LEAVE_AFTER_S, then the same way to ingest as the commit took.
        lag = (committed or sent + SAMPLE_TIMEOUT_S) - sent
        time.sleep(max(0.0, LEAVE_AFTER_S + 0.3 + 2 * lag - (time.monotonic() - sent)))
    return result


def _shop(devices: Devices, events: Events, number: int, serial: int) -> tuple[float, float | None] | None:
    """Member ``number`` takes one new item through the lane and out of the door; returns when the outside
    read was written and when the transaction's event arrived (``None``: not within the time-out), or
    ``None`` if the item did not join the basket in time (the lane still held the previous shopper)."""
    uid = f"BE{number:08X}"  # member B-{number:04d}'s card
    epc = encode_sgtin96(BASKET_GTIN, serial)
    tag = f"EPC:{epc}"

    def joined(e: BusinessEvent) -> bool:
        return e.type == "basket" and e.data.get("tag") == tag and e.data.get("change") == "added"

    def sold(e: BusinessEvent) -> bool:
        return e.type == "transaction" and any(line.get("tag") == tag for line in e.data.get("lines", []))

    begun = time.monotonic()
    card, item = encode_card(uid, "rdm6300"), encode_tag_notice(epc, rssi=-50)
    while True:  # card and item stay in the lane's fields, read again and again
        devices.write(CARD_READER, card)
        devices.write("lane-uhf", item)
        if events.wait_for(joined, begun, CARD_REPEAT_S) is not None:
            break
        if time.monotonic() - begun > SAMPLE_TIMEOUT_S:
            return None
    devices.write("exit-inner-uhf", encode_tag_notice(epc, rssi=-50))
    time.sleep(STEP_S)
    sent = time.monotonic()
    devices.write("exit-outer-uhf", encode_tag_notice(epc, rssi=-50))
    return sent, events.wait_for(sold, sent, SAMPLE_TIMEOUT_S)


def _record(result: Percentiles, sent: float, arrived: float | None) -> None:
    if arrived is None:
        result.timeouts += 1
    else:
        result.samples_ms.append((arrived - sent) * 1000)


def _check(processes: list[ManagedProcess]) -> None:
    for process in processes:
        process.check()


def _poll(probe: Callable[[], float | None], timeout: float) -> float | None:
    """The first value ``probe`` gives that is not ``None`` (a moment), or ``None`` after ``timeout``.

    The I/O board only records its coil writes, so the relay is polled, every ``RELAY_POLL_S``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(RELAY_POLL_S)
    return None
