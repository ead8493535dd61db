"""Several ingest worker processes share several stores through one MQTT shared subscription: a real
Mosquitto from the repository's configuration, and the database on SQLite and on PostgreSQL.

Each store has a gateway publishing numbered batches; a visit (a member's card in the lane, an item, the card
leaving, the card at the exit) is one batch, or one batch per read: then its batches reach the store's owner
through different workers, out of order, and the owner puts them back in ``seq`` order before the rules."""

from __future__ import annotations

import dataclasses
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from contract.payloads import ReadsBatch, TagRead, encode
from contract.topics import gateway_topic, shared
from ingest.adoption import Adoption
from ingest.db import schema as t
from ingest.db.engine import make_engine
from ingest.service import subscriptions
from silentcommerce.broker import INGEST_USER, gateway_user
from silentcommerce.mqtt import InboundMessage, MqttLink
from tests.faults.harness import item_epc
from tests.fixtures.broker import RunningBroker
from tests.fixtures.proxy import TcpProxy
from tests.fixtures.workers import Workers, broker_for_stores, lease_epochs, running_workers, store_files
from tests.ingest.test_service import eventually, read

pytestmark = pytest.mark.integration

STORES = ("shop-a", "shop-b", "shop-c")
MEMBERS = 100  # one member per visit: more than any test makes


def member_card(store: int, n: int) -> str:
    return f"0F{store:02X}{n:06X}"


def worker_store_file(number: int) -> str:
    """Store ``STORES[number]``: a shelf, a lane and an exit, milk by its GTIN, and many members: each visit
    is another member's, so visits stored in another order than sent (by different workers) do not meet in
    the lane. Zone, product and member names are unique in the chain (the database keys them by name)."""
    s = STORES[number]
    members = "".join(f'[[members]]\nid = "{s}-M{n}"\nname = "Member {n}"\ntags = ["UID:{member_card(number, n)}"]\n'
                      for n in range(MEMBERS))
    return f"""
[store]
id = "{s}"
name = "Shop {s}"

[rules]
settle_time_s = 60.0
min_reads = 2

[[zones]]
name = "{s}-shelf"
type = "shelf"
[[zones]]
name = "{s}-lane"
type = "lane"
display = "{s}-display"
gateway = "gw1"
[[zones]]
name = "{s}-exit"
type = "exit"
alarm = "{s}-alarm"
gateway = "gw1"

[[products]]
sku = "{s}-MILK"
name = "Organic milk 1 l"
price = "1.29"
gtin = "80614141123458"

{members}"""


def card_read(card: str, zone: str, at: datetime, event: str = "seen") -> TagRead:
    return TagRead(reader=f"{zone}-r", antenna=1, rssi=-50, first_seen=at, last_seen=at, count=3,
                   event=event, zone=zone, uid=card)  # type: ignore[arg-type]


def bought(store: int, n: int) -> str:
    """The item member ``n`` of store number ``store`` buys."""
    return item_epc(1_000_000 * (store + 1) + n)


class StoreGateway:
    """Gateway ``gw1`` of one store: publishes numbered batches and remembers every seq it published."""

    def __init__(self, broker: RunningBroker, store: str) -> None:
        self.store = store
        self.number = STORES.index(store)
        self.link = MqttLink(broker.settings(gateway_user(store, "gw1"), f"{store}-gw1"))
        self.link.start()
        assert self.link.wait_connected(10)
        self.seq = 0
        self.visits = 0

    def publish(self, reads: list) -> None:  # type: ignore[type-arg]
        self.seq += 1
        batch = ReadsBatch(store=self.store, gateway="gw1", seq=self.seq, sent_at=datetime.now(UTC), reads=reads)
        self.link.publish(gateway_topic(self.store, "gw1", "reads"), encode(batch)).wait(10)

    def visit(self, *, split: bool = False) -> None:
        """One member buys one item: card and item in the lane, card leaves, card at the exit (``split``: each
        read its own batch)."""
        n = self.visits
        self.visits += 1
        card, item = member_card(self.number, n), bought(self.number, n)
        lane, at = f"{self.store}-lane", datetime.now(UTC)
        reads = [card_read(card, lane, at), read(item, lane, at + timedelta(milliseconds=10)),
                 card_read(card, lane, at + timedelta(milliseconds=20), event="left"),
                 card_read(card, f"{self.store}-exit", at + timedelta(milliseconds=30))]
        for batch in ([r] for r in reads) if split else [reads]:
            self.publish(batch)

    def shelf(self) -> None:
        """Background traffic: an item seen on the shelf."""
        self.publish([read(item_epc(1_000_000 * (self.number + 1) + 500_000 + self.seq), f"{self.store}-shelf",
                           datetime.now(UTC))])


@pytest.fixture
def store_broker(tmp_path: Path) -> Iterator[RunningBroker]:
    running = broker_for_stores(tmp_path / "broker", STORES)
    try:
        yield running
    finally:
        running.broker.stop()


@pytest.fixture
def gateways(store_broker: RunningBroker) -> Iterator[list[StoreGateway]]:
    found = [StoreGateway(store_broker, store) for store in STORES]
    yield found
    for gateway in found:
        gateway.link.stop()


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    return store_files(tmp_path / "stores", {store: worker_store_file(n) for n, store in enumerate(STORES)})


def traffic(gateways: list[StoreGateway], rounds: int, workers: Workers | None = None, seed: int = 1, *,
            split: bool = False) -> None:
    """``rounds`` rounds of a batch (a visit every third round: 4 batches if ``split``) per store, the stores in
    a random order each round (in a fixed order, round-robin delivery would give each worker all of one
    store's batches)."""
    order = random.Random(seed)
    for number in range(rounds):
        for gateway in order.sample(gateways, len(gateways)):
            if number % 3 == 0:
                gateway.visit(split=split)
            else:
                gateway.shelf()
        if workers is not None and number % 20 == 0:
            workers.check()
        time.sleep(0.01)


def stored(db_url: str) -> dict[str, object]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            batches = conn.execute(select(t.gateway_batches.c.store, t.gateway_batches.c.gateway,
                                          t.gateway_batches.c.seq)).all()
            sales = conn.execute(select(t.transactions.c.store, func.count()).group_by(t.transactions.c.store)).all()
            lines = conn.execute(select(t.transaction_lines.c.tag)).scalars().all()
            baskets = conn.execute(select(t.transactions.c.member, t.transaction_lines.c.tag).join(
                t.transaction_lines, t.transaction_lines.c.transaction_id == t.transactions.c.id)).all()
            sold = conn.execute(select(func.count()).select_from(t.items).where(t.items.c.status == "sold")).scalar()
            handoff = conn.execute(select(func.count()).select_from(t.ingest_handoff)).scalar()
    finally:
        engine.dispose()
    return {"batches": sorted((b.store, b.gateway, b.seq) for b in batches), "sales": dict(sales),
            "lines": list(lines), "sold": sold, "handoff": handoff, "baskets": sorted(map(tuple, baskets))}


def published(gateways: list[StoreGateway]) -> list[tuple[str, str, int]]:
    return sorted((g.store, "gw1", seq) for g in gateways for seq in range(1, g.seq + 1))


def all_stored(db_url: str, gateways: list[StoreGateway], timeout: float = 120.0) -> dict[str, object]:
    expected = published(gateways)
    found = eventually(lambda: (lambda s: s if s["batches"] == expected and s["handoff"] == 0 else None)(
        stored(db_url)), timeout)
    return found or stored(db_url)


def check_sales(found: dict[str, object], gateways: list[StoreGateway]) -> None:
    """Every visit charged exactly once, with the member's own item."""
    assert found["sales"] == {g.store: g.visits for g in gateways}
    assert found["baskets"] == sorted((f"{g.store}-M{n}", f"EPC:{bought(g.number, n)}") for g in gateways
                                      for n in range(g.visits))
    lines = found["lines"]
    assert isinstance(lines, list) and len(lines) == len(set(lines)) == sum(g.visits for g in gateways)
    assert found["sold"] == sum(g.visits for g in gateways)


def test_the_shared_subscription_is_allowed_for_ingest_and_nobody_else(store_broker: RunningBroker) -> None:
    """Mosquitto checks a ``$share/...`` filter against the ACL without its prefix: ingest may share its
    filters, a gateway gets nothing of another store's traffic that way (Mosquitto grants the subscription
    and filters each message by the reader's ACL)."""
    filters = [(shared("ingest", f), 1) for f, _ in subscriptions()]
    received: list[str] = []
    ingest = MqttLink(store_broker.settings(INGEST_USER, "share-probe", session_expiry_s=60),
                      subscriptions=filters, on_message=lambda m: received.append(m.topic))
    spied: list[str] = []
    spy = MqttLink(store_broker.settings(gateway_user("shop-b", "gw1"), "spy"),
                   subscriptions=[(shared("spy", "sc/v1/+/+/reads"), 1)], on_message=lambda m: spied.append(m.topic))
    gateway = StoreGateway(store_broker, "shop-a")
    try:
        for link in (ingest, spy):
            link.start()
            assert link.wait_connected(10)
        time.sleep(0.3)
        gateway.shelf()
        assert eventually(lambda: received == [gateway_topic("shop-a", "gw1", "reads")])
        assert ingest.stats.subscribe_refused == 0
        time.sleep(0.5)
        assert spied == [] and spy.stats.received == 0
    finally:
        for link in (ingest, spy, gateway.link):
            link.stop()


def test_an_adoption_does_not_end_the_session_right_after_a_slow_hand_over(store_broker: RunningBroker) -> None:
    """The hand-over of what an adopted session gives is a database write. When it takes longer than the quiet
    time, the broker sends the session's next queued messages (beyond its in-flight window) only once the
    acknowledgements reach it: the adoption must wait the quiet time after them too, or it ends the session
    (and the broker drops what it still queued) in the moment before they come."""
    dead = MqttLink(store_broker.settings(INGEST_USER, "ingest-worker-dead", session_expiry_s=600),
                    subscriptions=[(shared("ingest", f), 1) for f, _ in subscriptions()])
    dead.start()
    assert dead.wait_connected(10)
    time.sleep(0.3)
    dead.stop()  # no clean end of the session: the broker queues the worker's share
    gateway = StoreGateway(store_broker, "shop-a")
    gateway.shelf()
    taken: list[InboundMessage] = []
    acked = threading.Event()

    def slow_hand_over(message: InboundMessage, ack: Callable[[InboundMessage], None]) -> None:
        taken.append(message)
        threading.Timer(2.5, lambda: (ack(message), acked.set())).start()

    adoption = Adoption("dead", "ingest-worker-dead", store_broker.settings(INGEST_USER, "", session_expiry_s=600),
                        [shared("ingest", f) for f, _ in subscriptions()], slow_hand_over, threading.Event(),
                        quiet_s=2.0)
    try:
        adoption.start()
        assert acked.wait(15), "the queued batch was not handed over"
        time.sleep(0.3)
        assert adoption.running, "the session was ended at the moment the slow hand-over was acknowledged"
        assert eventually(lambda: not adoption.running, 10)
        assert adoption.ended_session and (adoption.received, adoption.acked) == (1, 1) and len(taken) == 1
    finally:
        adoption.link.stop()
        gateway.link.stop()


def dead_session_with_a_live_peer(broker: RunningBroker) -> tuple[MqttLink, list[InboundMessage]]:
    """Worker ``dead`` and worker ``live`` share the ingest filters; ``dead`` goes away without ending its
    session, so the broker queues its share. Returns ``live``'s link and what it receives."""
    filters = [(shared("ingest", f), 1) for f, _ in subscriptions()]
    dead = MqttLink(broker.settings(INGEST_USER, "ingest-worker-dead", session_expiry_s=600), subscriptions=filters)
    live_got: list[InboundMessage] = []
    live = MqttLink(broker.settings(INGEST_USER, "ingest-worker-live", session_expiry_s=600), subscriptions=filters,
                    on_message=live_got.append)
    for link in (dead, live):
        link.start()
        assert link.wait_connected(10)
    time.sleep(0.3)
    dead.stop()
    return live, live_got


def test_a_failed_adoption_is_tried_again_until_the_dead_session_is_drained_and_ended(
    store_broker: RunningBroker, tcp_proxy: Callable[[int], TcpProxy],
) -> None:
    """The first attempt to adopt a dead worker's session finds no broker (its connection is refused). Tried
    again, the adoption hands over everything the session queued and ends it: from then on the live worker gets
    every message, none waits in the dead session."""
    live, live_got = dead_session_with_a_live_peer(store_broker)
    gateway = StoreGateway(store_broker, "shop-a")
    proxy = tcp_proxy(store_broker.port)
    proxy.refuse(1)
    taken: list[InboundMessage] = []

    def hand_over(message: InboundMessage, ack: Callable[[InboundMessage], None]) -> None:
        taken.append(message)
        ack(message)

    settings = dataclasses.replace(store_broker.settings(INGEST_USER, "", session_expiry_s=600), port=proxy.port)
    adoption = Adoption("dead", "ingest-worker-dead", settings, [shared("ingest", f) for f, _ in subscriptions()],
                        hand_over, threading.Event(), connect_timeout_s=1.0, retry_s=0.3)
    try:
        for _ in range(10):
            gateway.shelf()
        assert eventually(lambda: live_got, 10)
        time.sleep(0.5)
        queued = 10 - len(live_got)
        assert queued > 0  # the dead session's turns of the shared delivery wait in its queue
        adoption.start()
        assert eventually(lambda: not adoption.running, 20)
        assert proxy.refused == 1 and adoption.retries == 1
        assert adoption.ended_session and len(taken) == queued == adoption.acked
        before = len(live_got)
        for _ in range(6):
            gateway.shelf()
        assert eventually(lambda: len(live_got) == before + 6, 10), "a share still went to the dead session"
    finally:
        adoption.link.stop()
        for link in (live, gateway.link):
            link.stop()


def test_an_adoption_stops_trying_once_the_dead_worker_runs_again(
    store_broker: RunningBroker, tcp_proxy: Callable[[int], TcpProxy],
) -> None:
    """While the broker cannot be reached the adoption keeps trying; once the dead worker says ``online`` for a
    new run (it takes its session back itself) the adoption ends without touching the session."""
    proxy = tcp_proxy(store_broker.port)
    proxy.refuse(1000)
    back = threading.Event()
    settings = dataclasses.replace(store_broker.settings(INGEST_USER, "", session_expiry_s=600), port=proxy.port)
    adoption = Adoption("dead", "ingest-worker-dead", settings, [shared("ingest", f) for f, _ in subscriptions()],
                        lambda message, ack: ack(message), threading.Event(), connect_timeout_s=0.5, retry_s=0.2,
                        retry_max_s=0.4, back=back.is_set)
    adoption.start()
    try:
        assert eventually(lambda: adoption.retries >= 2, 15)
        assert adoption.running
        back.set()
        assert eventually(lambda: not adoption.running, 10)
        assert not adoption.ended_session and adoption.received == 0
    finally:
        adoption.link.stop()


def test_three_workers_share_three_stores_and_store_every_batch_once(
    store_broker: RunningBroker, gateways: list[StoreGateway], files: list[Path], db_url: str, tmp_path: Path,
) -> None:
    with running_workers(store_broker, db_url, files, tmp_path / "workers", 3, lease_ttl_s=10.0) as workers:
        owners = workers.wait_owned(["w1", "w2", "w3"], STORES)
        assert sorted(owners.values()) == ["w1", "w2", "w3"]
        traffic(gateways, 150, workers)
        found = all_stored(db_url, gateways)
        assert found["batches"] == published(gateways)
        check_sales(found, gateways)
        if db_url.startswith("postgresql"):  # nobody lost or gave up a store on the way
            # (SQLite has one writer for all: on a busy machine a renewal can wait out the lease, which moves
            # the store and stays correct, as the checks above show)
            assert workers.serving() == owners
        for worker in ("w1", "w2", "w3"):
            workers.stop(worker)
        stats = {worker: workers.stats(worker) for worker in ("w1", "w2", "w3")}
    print(f"hand-over per worker after {sum(g.seq for g in gateways)} messages: {stats}")
    handed_out = sum(s["handed_out"] for s in stats.values())
    assert handed_out > 0  # round-robin delivery: most messages reached a worker that does not own the store
    assert sum(s["handed_in"] for s in stats.values()) >= handed_out - 3 * 5  # a clean stop's last few aside
    assert stored(db_url)["handoff"] == 0


def test_visits_spread_over_batches_are_each_charged_once_with_their_item_by_three_workers(
    store_broker: RunningBroker, gateways: list[StoreGateway], files: list[Path], db_url: str, tmp_path: Path,
) -> None:
    """Each visit's four batches reach the store's owner partly directly and partly a hand-over poll later,
    in another order than sent: the owner holds the early ones until the seq before them arrive. On SQLite
    the hand-over waits for the one writer, behind every store's commits: on the shared test machine it lagged
    up to about 5 s behind the direct messages, so the wait is raised there (docs/deploy.md, "Order")."""
    wait = 0.5 if db_url.startswith("postgresql") else 10.0
    with running_workers(store_broker, db_url, files, tmp_path / "workers", 3, lease_ttl_s=10.0,
                         reorder_wait_s=wait) as workers:
        workers.wait_owned(["w1", "w2", "w3"], STORES)
        traffic(gateways, 90, workers, split=True)
        found = all_stored(db_url, gateways)
        assert found["batches"] == published(gateways)
        check_sales(found, gateways)
        for worker in ("w1", "w2", "w3"):
            workers.stop(worker)
        stats = {worker: workers.stats(worker) for worker in ("w1", "w2", "w3")}
        held = sum(int(n) for worker in stats for n in re.findall(r"'reorder_held': (\d+)", workers.log(worker)))
    print(f"hand-over per worker after {sum(g.seq for g in gateways)} messages: {stats}; held for order: {held}")
    assert sum(s["handed_out"] for s in stats.values()) > 0
    assert held > 0, "the batches did arrive out of order"


def test_a_killed_worker_is_replaced_in_seconds_and_one_cut_off_from_the_broker_is_not(
    store_broker: RunningBroker, gateways: list[StoreGateway], files: list[Path], db_url: str, tmp_path: Path,
    tcp_proxy: Callable[[int], TcpProxy],
) -> None:
    """w3's broker connection is cut (a proxy closes it and holds the reconnects): the broker publishes its Last
    Will, but it still beats in the database, so nobody retires it; it keeps its store and, reconnected, gets
    what its session queued meanwhile. Then w2 is SIGKILLed: its will comes at once, another worker retires it
    (its store's lease is freed and taken, well before the 10 s lease time) and adopts its MQTT session (the
    broker stops giving the dead worker a share, so every batch published from then on is stored while it is
    still down). Started again, w2 finds no session, subscribes and takes its share back."""
    proxy = tcp_proxy(store_broker.port)
    with running_workers(store_broker, db_url, files, tmp_path / "workers", 3, lease_ttl_s=10.0,
                         mqtt_ports={"w3": proxy.port}) as workers:
        owners = workers.wait_owned(["w1", "w2", "w3"], STORES)
        traffic(gateways, 30, workers)
        epochs = lease_epochs(db_url)
        proxy.black_hole()
        proxy.cut()
        assert eventually(lambda: all("the will of worker w3 came" in workers.log(w) for w in ("w1", "w2")))
        traffic(gateways, 30, workers)
        assert eventually(lambda: any("w3 lost its broker connection but still beats" in workers.log(w)
                                      for w in ("w1", "w2")), timeout=15.0)
        assert lease_epochs(db_url) == epochs and workers.serving() == owners
        proxy.heal()
        found = all_stored(db_url, gateways, timeout=60.0)
        assert found["batches"] == published(gateways)

        victim = "w2"
        (its_store,) = [store for store, worker in owners.items() if worker == victim]
        workers.kill(victim)
        killed_at = time.monotonic()
        moved = eventually(lambda: lease_epochs(db_url)[its_store] > epochs[its_store], timeout=10.0)
        moved_s = time.monotonic() - killed_at
        assert moved, f"store {its_store} of the killed worker did not move within 10 s"
        traffic(gateways, 60)
        found = all_stored(db_url, gateways, timeout=15.0)  # nothing waits in the dead worker's session
        assert found["batches"] == published(gateways)
        taken = workers.wait_owned(["w1", "w3"], STORES, timeout=30.0)
        assert taken[its_store] in ("w1", "w3")
        adopters = [w for w in ("w1", "w3") if re.search(r"adopted worker w2's session", workers.log(w))]
        assert len(adopters) == 1, {w: workers.log(w)[-2000:] for w in ("w1", "w3")}
        workers.start(victim)  # the same id: its session was ended, it starts a new one and gets its share
        workers.wait_owned(["w1", "w2", "w3"], STORES)
        traffic(gateways, 60, workers)
        found = all_stored(db_url, gateways)
        assert found["batches"] == published(gateways)
        check_sales(found, gateways)
        assert not re.search(r"retired worker w3", workers.log("w1") + workers.log("w2"))
        workers.stop(victim)
        assert workers.stats(victim)["handed_out"] > 0, "the returned worker got no share of the traffic"
        print(f"store moved {moved_s:.1f} s after SIGKILL (lease time 10 s); adopted by {adopters[0]}")


def test_a_dead_worker_s_session_is_adopted_although_the_first_attempt_finds_no_broker(
    store_broker: RunningBroker, gateways: list[StoreGateway], files: list[Path], db_url: str, tmp_path: Path,
    tcp_proxy: Callable[[int], TcpProxy],
) -> None:
    """w1 and w2 reach the broker through proxies that refuse the next new connection: the adoption of w3's
    session after w3 is SIGKILLed fails once (the workers' own connections stay up), and is tried again until it
    drains the session: every batch, those the broker queued in the dead session too, is stored while w3 is
    still down."""
    proxies = {worker: tcp_proxy(store_broker.port) for worker in ("w1", "w2")}
    with running_workers(store_broker, db_url, files, tmp_path / "workers", 3, lease_ttl_s=10.0,
                         mqtt_ports={worker: proxy.port for worker, proxy in proxies.items()}) as workers:
        workers.wait_owned(["w1", "w2", "w3"], STORES)
        traffic(gateways, 15, workers)
        for proxy in proxies.values():
            proxy.refuse(1)
        workers.kill("w3")
        traffic(gateways, 30)  # w3's share waits in its session
        found = all_stored(db_url, gateways, timeout=60.0)
        assert found["batches"] == published(gateways), "batches wait in the dead worker's session"
        adopters = eventually(lambda: [w for w in ("w1", "w2") if "adopted worker w3's session" in workers.log(w)])
        assert len(adopters) == 1, {w: workers.log(w)[-2000:] for w in ("w1", "w2")}
        (adopter,) = adopters
        assert "could not adopt worker w3's session" in workers.log(adopter)
        assert proxies[adopter].refused == 1
        workers.stop(adopter)
        assert workers.stats(adopter)["adoption_retries"] == 1


def test_a_worker_cut_off_from_the_broker_that_dies_before_it_reconnects_is_still_replaced(
    store_broker: RunningBroker, gateways: list[StoreGateway], files: list[Path], db_url: str, tmp_path: Path,
    tcp_proxy: Callable[[int], TcpProxy],
) -> None:
    """w3's broker connection is cut: its will comes, but it still beats, so nobody retires it. Then it is
    SIGKILLed while still cut off: no second will comes (the broker sent the only one). Its heartbeat stops, so
    it is retired and its session adopted all the same: its store moves well before the 30 s lease time, and
    what the broker queued for it while it was cut off is stored while it is still down."""
    proxy = tcp_proxy(store_broker.port)
    with running_workers(store_broker, db_url, files, tmp_path / "workers", 3, lease_ttl_s=30.0,
                         mqtt_ports={"w3": proxy.port}) as workers:
        owners = workers.wait_owned(["w1", "w2", "w3"], STORES)
        (its_store,) = [store for store, worker in owners.items() if worker == "w3"]
        epochs = lease_epochs(db_url)
        proxy.black_hole()
        proxy.cut()
        assert eventually(lambda: any("w3 lost its broker connection but still beats" in workers.log(w)
                                      for w in ("w1", "w2")), timeout=15.0)
        traffic(gateways, 30, workers)  # the broker queues w3's share in its session
        workers.kill("w3")
        killed_at = time.monotonic()
        moved = eventually(lambda: lease_epochs(db_url)[its_store] > epochs[its_store], timeout=20.0)
        moved_s = time.monotonic() - killed_at
        assert moved, f"store {its_store} of the killed worker did not move within 20 s (lease time 30 s)"
        found = all_stored(db_url, gateways, timeout=20.0)
        assert found["batches"] == published(gateways), "batches wait in the dead worker's session"
        adopters = eventually(lambda: [w for w in ("w1", "w2") if "adopted worker w3's session" in workers.log(w)])
        assert len(adopters) == 1, {w: workers.log(w)[-2000:] for w in ("w1", "w2")}
        print(f"store moved {moved_s:.1f} s after SIGKILL of the cut-off worker (lease time 30 s)")
