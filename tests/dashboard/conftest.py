"""Dashboard fixtures: a migrated store (SQLite and PostgreSQL) seeded through the repository, and a running
dashboard."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from contract import BusinessEvent
from dashboard.app import create_app
from dashboard.main import server
from dashboard.settings import DashboardSettings
from ingest.db import repo
from ingest.db.engine import make_engine
from ingest.db.persist import apply_decisions
from ingest.rules.model import (
    Decision,
    Evidence,
    Product,
    TheftAlarm,
    TransactionCommitted,
    TransactionLine,
    Zone,
)
from silentcommerce.broker import free_port
from silentcommerce.mqtt import MqttSettings
from tests.fixtures.broker import STORE, RunningBroker
from tests.fixtures.databases import Databases

LOGINS = {"operator": "op-secret", "admin": "admin-secret"}
OPERATOR = ("operator", LOGINS["operator"])
ADMIN = ("admin", LOGINS["admin"])
ADA_CARD = "UID:0F003A6B5C"
MILK_TAG = "EPC:3074257BF7194E4000001A85"
BREAD_TAG = "EPC:3074257BF7194E4000001B00"


def seed_store(url: str) -> None:
    """The small store every dashboard test sees: five zones, two products, one member, one item."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            repo.upsert_store(conn, STORE, "Test Store", "EUR")
            for zone in (
                Zone("entrance", "entrance"),
                Zone("shelf-dairy", "shelf"),
                Zone("lane-1", "lane", display="lane-1-display"),
                Zone("exit", "exit", alarm="exit-alarm", gateway="gw1"),
                Zone("cooler-1", "cooler"),
            ):
                repo.upsert_zone(conn, zone, STORE)
            repo.upsert_product(conn, Product("MILK-1L", "Organic milk 1 l", Decimal("1.29"), "04012345000016", "dairy", 3), STORE)
            repo.upsert_product(conn, Product("BREAD", "Rye bread", Decimal("2.19"), None, "bakery", 0), STORE)
            repo.upsert_member(conn, "M-1001", "Ada Lovelace", STORE)
            repo.bind_tag(conn, ADA_CARD, "member", "M-1001")
            repo.bind_tag(conn, MILK_TAG, "item", "MILK-1L")
    finally:
        engine.dispose()
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    bread = TransactionLine(BREAD_TAG, "BREAD", "Rye bread", Decimal("2.19"))
    record_decisions(url, [
        TransactionCommitted("T-seed-1", "M-1001", "lane-1", (bread,), Decimal("2.19"), 2, at, "settle", None, None),
        TheftAlarm("EPC:30AB", None, "exit", "gw1", "exit-alarm", at, (
            Evidence("EPC:30AB", "exit", "gw1", "exit-uhf", 1, -51.0, 4, "seen", at),
        )),
    ])


def record_decisions(url: str, decisions: list[Decision]) -> list[BusinessEvent]:
    """Store rules-engine decisions the way ingest does; return the business events ingest would publish."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return apply_decisions(conn, STORE, decisions).events
    finally:
        engine.dispose()


@contextmanager
def seeded_database(databases: Databases, engine: str, *more: Callable[[str], None]) -> Iterator[str]:
    """A migrated database on ``engine`` holding the small test store and what each of ``more`` adds,
    used by nobody else until the block ends."""

    def fill(url: str) -> None:
        for seed in (seed_store, *more):
            seed(url)

    url = databases.migrated(engine, fill, kind="+".join(seed.__name__ for seed in (seed_store, *more)))
    try:
        yield url
    finally:
        databases.release(url)


@pytest.fixture
def db_url(databases: Databases, db_engine: str) -> Iterator[str]:
    """The seeded store for one test, on SQLite and on PostgreSQL."""
    with seeded_database(databases, db_engine) as url:
        yield url


def unreachable_mqtt() -> MqttSettings:
    """A broker address nobody listens on: the API works without the live feed."""
    return MqttSettings(host="127.0.0.1", port=free_port(), username="dashboard", password="x", client_id="dash")


def settings_for(db_url: str, mqtt: MqttSettings, **extra: object) -> DashboardSettings:
    return DashboardSettings(db_url=db_url, mqtt=mqtt, logins=dict(LOGINS), store=STORE, **extra)  # type: ignore[arg-type]


def api_client(db_url: str) -> TestClient:
    """The app in process on ``db_url``, without a broker; use it as a context manager."""
    return TestClient(create_app(settings_for(db_url, unreachable_mqtt())))


@dataclass
class RunningDashboard:
    url: str
    settings: DashboardSettings

    def client(self, login: str = "operator") -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(login, LOGINS[login]), timeout=10)


def signed_in_context(chromium: Any, url: str, login: str = "operator", **options: Any) -> Any:
    """A Chromium context signed in through ``POST /api/login``: it holds the session cookie, as the sign-in
    page leaves it, and sends it with every page, fetch and live-feed request."""
    context = chromium.new_context(**options)
    answer = context.request.post(url + "/api/login", data={"login": login, "password": LOGINS[login]})
    assert answer.ok, answer.text()
    return context


@contextmanager
def serving(settings: DashboardSettings, *, until_connected: bool = False) -> Iterator[str]:
    """The dashboard served by uvicorn on a free port; with ``until_connected``, also wait for its broker link."""
    port = free_port()
    uv = server(settings, "127.0.0.1", port)
    thread = threading.Thread(target=uv.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    if until_connected:
        with RunningDashboard(url, settings).client() as client:  # wait until the hub's broker link is up
            while not client.get("/api/health").json()["live"]["connected"]:
                if time.monotonic() > deadline:
                    raise RuntimeError("the dashboard did not connect to the broker")
                time.sleep(0.05)
    try:
        yield url
    finally:
        uv.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def live_dashboard(db_url: str, broker: RunningBroker) -> Iterator[RunningDashboard]:
    """The dashboard following the test broker as user 'dashboard'."""
    settings = settings_for(db_url, broker.settings("dashboard", "dashboard-test"))
    with serving(settings, until_connected=True) as url:
        yield RunningDashboard(url, settings)
