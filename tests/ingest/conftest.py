"""Fixtures every ingest integration test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.broker import RunningBroker
from tests.ingest.test_service import Gateway


@pytest.fixture
def gw1(broker: RunningBroker) -> Iterator[Gateway]:
    """Gateway gw1's MQTT side: publishes batches as gw.teststore.gw1 and hears its own commands."""
    gateway = Gateway(broker)
    yield gateway
    gateway.link.stop()
