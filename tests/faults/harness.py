"""What the fault tests share: their size, a stream of tag reads into a PTY, gateways with a ledger, waits.

Sizes: the CI form of each fault is small enough for ``make test``; ``SC_SOAK=1`` (``make soak``) runs the
same tests at the larger size.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.config import load_config
from gateway.service import Gateway
from readers.epc import Sgtin, decode_epc, encode_sgtin96
from readers.uhf import encode_tag_notice
from silentcommerce.processes import ManagedProcess, python_command
from simulators.links import PtyPair
from tests.faults.checker import assigned_seqs, ledgered_outbox, outbox_depth, read_ledger, stored_seqs
from tests.fixtures.broker import STORE, RunningBroker
from tests.fixtures.servers import SOAK
from tests.gateway.conftest import gateway_toml
from tests.ingest.test_service import MILK_EPC


def sized(ci: float, soak: float) -> float:
    """The CI figure, or the soak figure under ``SC_SOAK=1``."""
    return soak if SOAK else ci


def fault_rng() -> tuple[random.Random, int]:
    """Random fault points, reproducible: ``SC_FAULT_SEED`` replays a run (its seed is in the report)."""
    seed = int(os.environ.get("SC_FAULT_SEED") or random.SystemRandom().randrange(2**32))
    return random.Random(seed), seed


_MILK = decode_epc(MILK_EPC)
assert isinstance(_MILK, Sgtin)


def item_epc(serial: int) -> str:
    """A milk carton of the test store's catalog (recognised by its GTIN): serial ``serial``."""
    assert isinstance(_MILK, Sgtin)
    return encode_sgtin96(_MILK.gtin, serial, len(_MILK.company_prefix))


def shelf_reader(url: str, zone: str = "shelf-dairy") -> str:
    """A UHF reader on the dairy shelf (or on ``zone``), as a gateway config section."""
    return f"""
[[readers]]
name = "shelf-uhf"
url = "{url}"
protocol = "uhf-m100"
antennas = {{ "1" = "{zone}" }}
"""


def write_all(fd: int, data: bytes, stop: threading.Event | None = None) -> None:
    """Write ``data`` to a non-blocking PTY master, waiting while the reader side's buffer is full."""
    while data and not (stop is not None and stop.is_set()):
        _, ready, _ = select.select([], [fd], [], 0.1)
        if ready:
            with contextlib.suppress(BlockingIOError):
                data = data[os.write(fd, data):]


class Feeder:
    """A shelf reader's traffic: one new item every ``1 / rate_hz`` seconds, as UHF tag notices on a PTY.

    Each item is read ``repeats`` times, so the gateway reports it ``seen`` and, once the feed moves on,
    ``left``. :attr:`pair` may be swapped for a new PTY while the feed runs (a re-plugged reader)."""

    def __init__(self, pair: PtyPair, *, first_serial: int, rate_hz: float, repeats: int = 2) -> None:
        self.pair = pair
        self.items = 0
        self._serial = first_serial
        self._period = 1.0 / rate_hz
        self._repeats = repeats
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            frame = encode_tag_notice(item_epc(self._serial), rssi=-60) * self._repeats
            with contextlib.suppress(OSError):  # the PTY is being swapped: the next item goes to the new one
                write_all(self.pair.master, frame, self._stop)
                self.items += 1
            self._serial += 1


@contextmanager
def feeding(pair: PtyPair, *, first_serial: int, rate_hz: float) -> Iterator[Feeder]:
    feeder = Feeder(pair, first_serial=first_serial, rate_hz=rate_hz).start()
    try:
        yield feeder
    finally:
        feeder.stop()


def gateway_config(broker: RunningBroker, workdir: Path, gateway: str, reader_url: str, *,
                   zone: str = "shelf-dairy", keep_delivered_max: int | None = None, **options: object) -> Path:
    """A gateway config with one shelf reader, and its outbox created with the ledger in it.
    ``keep_delivered_max=0``: the gateway forgets a batch at its PUBACK, so ingest cannot ask for it again."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = gateway_toml(broker, workdir, readers=shelf_reader(reader_url, zone), gateway=gateway, **options)  # type: ignore[arg-type]
    if keep_delivered_max is not None:
        path.write_text(path.read_text().replace("[gateway]\n", f"[gateway]\nkeep_delivered_max = {keep_delivered_max}\n", 1))
    ledgered_outbox(workdir / f"{gateway}-outbox.db", STORE, gateway)
    return path


@contextmanager
def in_process_gateway(config: Path, *, drain_timeout: float = 10.0) -> Iterator[Gateway]:
    """The gateway in this process; at the end a clean stop puts every read into the outbox and drains it."""
    gateway = Gateway(load_config(config, environ={}))
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop(drain_timeout=drain_timeout)


def gateway_process(config: Path) -> ManagedProcess:
    """``silentcommerce gateway --config <config>`` as a child process (the deployment's command)."""
    process = ManagedProcess(f"gateway-{config.stem}", python_command("gateway", "--config", str(config)),
                             config.parent / f"{config.stem}.log")
    process.start()
    return process


def delivered_through(outbox: Path, seq: int) -> bool:
    """True once no batch up to ``seq`` waits in the outbox any more."""
    return outbox_depth(outbox, up_to=seq) == 0


def last_assigned(outbox: Path) -> int:
    return max(assigned_seqs(outbox), default=0)


def wait_all_stored(db_url: str, outboxes: dict[str, Path], timeout: float,
                    alive: Callable[[], None] = lambda: None, *, store: str = STORE) -> dict[str, int]:
    """Wait (up to ``timeout``) until ingest stored every batch the gateways assigned so far; returns the last
    ``seq`` of each gateway to judge (:func:`check`'s ``upto``: a gateway that keeps sending goes on past it).
    It does not fail by itself: what never arrived is the checker's to report."""
    upto: dict[str, int] = {}

    def done() -> bool:
        alive()
        assigned = {gw: set(assigned_seqs(path)) for gw, path in outboxes.items()}
        upto.update({gw: max(seqs, default=0) for gw, seqs in assigned.items()})
        stored = stored_seqs(db_url, store)
        return all(seqs <= set(stored.get(gw, [])) for gw, seqs in assigned.items())

    with contextlib.suppress(AssertionError):
        wait_slowly(done, timeout, "every assigned batch stored by ingest")
    return upto


def wait_slowly(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait until ``predicate()`` holds, looking four times a second (the probes read databases, and must not
    take the processor from the services they watch)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.25)


def assigned_epcs(outbox: Path) -> set[str]:
    """Every EPC in a reads batch the outbox at ``outbox`` assigned."""
    return {r["epc"] for e in read_ledger(outbox) if e.kind == "reads" for r in e.payload["reads"] if r.get("epc")}


def grown(outboxes: dict[str, Path], marks: dict[str, int]) -> bool:
    """Each gateway assigned at least ``marks[gateway]`` batches so far."""
    return all(len(assigned_seqs(outboxes[gw])) >= n for gw, n in marks.items())
