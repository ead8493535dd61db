"""An ingest service running against the test broker: the one way ingest tests start and stop it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ingest.service import IngestService, IngestSettings
from silentcommerce.broker import INGEST_USER
from tests.fixtures.broker import RunningBroker


@contextmanager
def running_ingest(
    broker: RunningBroker, tmp_path: Path, store: str | Path, client_id: str, db_url: str, **settings: Any,
) -> Iterator[IngestService]:
    """Ingest on ``store`` (a store file's path, or its text written to ``tmp_path``) with the database at
    ``db_url`` (the ``db_url`` fixture: each test runs on SQLite and on PostgreSQL), a persistent session as
    ``client_id``, a 0.1 s tick; ``settings`` override IngestSettings."""
    if isinstance(store, str):
        path = tmp_path / "store.toml"
        path.write_text(store, encoding="utf-8")
        store = path
    service = IngestService(IngestSettings(
        store_file=store, db_url=db_url,
        mqtt=broker.settings(INGEST_USER, client_id, session_expiry_s=600), **{"tick_s": 0.1, **settings},
    ))
    service.start()
    assert service.wait_connected(10)
    time.sleep(0.2)  # let the SUBACKs arrive before the first publish (a clean first session)
    try:
        yield service
    finally:
        service.stop()
