"""Mosquitto with a TLS listener and a CA made for the test: ingest and a gateway connect over TLS and a
batch goes through; a client trusting another CA, a plain-text client on the TLS port, a wrong password over
TLS and (when client certificates are required) a client without one are all refused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract import ReadsBatch, Status, decode, encode
from contract.topics import gateway_topic
from gateway.config import load_config
from gateway.errors import GatewayConfigError
from gateway.service import Gateway
from silentcommerce.broker import Broker, TlsListener, free_port, generate_credentials
from silentcommerce.mqtt import MqttLink, MqttSettings
from tests.fixtures.broker import GATEWAYS, STORE, RunningBroker
from tests.fixtures.servers import require_executable
from tests.fixtures.tls import TestCa, make_ca
from tests.fuzz.test_config_files import GATEWAY
from tests.gateway.conftest import gateway_toml, subscribed
from tests.ingest.running import running_ingest
from tests.ingest.test_service import MILK_EPC, STORE_FILE, batches_of, eventually, read

pytestmark = pytest.mark.integration


@dataclass
class TlsBroker(RunningBroker):
    """A running broker whose client settings all go to its TLS listener, trusting ``ca``."""

    ca: TestCa | None = None

    def settings(self, user: str, client_id: str, **extra: object) -> MqttSettings:
        assert self.ca is not None and self.broker.tls is not None
        plain = super().settings(user, client_id, **extra)
        return replace(plain, host="localhost", port=self.broker.tls.port, tls_ca_file=str(self.ca.cert))


@contextmanager
def tls_broker(tmp_path: Path, ca: TestCa, *, require_certificate: bool = False) -> Iterator[TlsBroker]:
    require_executable("mosquitto", "/usr/sbin/mosquitto", package="mosquitto")
    workdir = tmp_path / "broker"
    credentials = generate_credentials(workdir, GATEWAYS)
    cert, key = ca.pair("server")
    tls = TlsListener(free_port(), ca.cert, cert, key, bind="127.0.0.1", require_certificate=require_certificate)
    running = TlsBroker(Broker(workdir, free_port(), tls=tls), credentials, workdir, ca)
    running.broker.start()
    try:
        yield running
    finally:
        running.broker.stop()


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return make_ca(tmp_path / "ca")


@pytest.fixture
def broker_tls(tmp_path: Path, ca: TestCa) -> Iterator[TlsBroker]:
    with tls_broker(tmp_path, ca) as running:
        yield running


def connects(settings: MqttSettings, timeout: float) -> bool:
    link = MqttLink(settings)
    link.start()
    try:
        return link.wait_connected(timeout)
    finally:
        link.stop()


def test_ingest_and_a_gateway_speak_over_tls(broker_tls: TlsBroker, tmp_path: Path) -> None:
    with running_ingest(broker_tls, tmp_path, STORE_FILE, "ingest-tls", f"sqlite:///{tmp_path / 'ingest.db'}") as ingest:
        assert ingest.link.settings.tls_ca_file is not None
        gateway = MqttLink(broker_tls.gateway_settings("gw1"))
        gateway.start()
        try:
            assert gateway.wait_connected(10)
            now = datetime.now(UTC)
            batch = ReadsBatch(store=STORE, gateway="gw1", seq=1, sent_at=now,
                               reads=[read(MILK_EPC, "shelf-dairy", now)])
            gateway.publish(gateway_topic(STORE, "gw1", "reads"), encode(batch)).wait(10)
            assert eventually(lambda: batches_of(ingest, "gw1") or None) == [1]
        finally:
            gateway.stop()


def test_a_client_trusting_another_ca_or_speaking_plain_text_is_refused(broker_tls: TlsBroker, tmp_path: Path) -> None:
    other = make_ca(tmp_path / "other-ca", "Someone else's CA")
    gw1 = broker_tls.gateway_settings("gw1")
    assert connects(gw1, 10)  # the same client with the right CA gets in
    assert not connects(replace(gw1, tls_ca_file=str(other.cert)), 2)
    assert not connects(replace(gw1, tls_ca_file=None), 2)  # plain MQTT on the TLS port
    assert not connects(replace(gw1, password="wrong"), 2)  # TLS does not replace the password


def test_a_required_client_certificate_is_checked(tmp_path: Path, ca: TestCa) -> None:
    with tls_broker(tmp_path, ca, require_certificate=True) as running:
        gw1 = running.gateway_settings("gw1")
        cert, key = ca.pair("client")
        assert connects(replace(gw1, tls_cert_file=str(cert), tls_key_file=str(key)), 10)
        assert not connects(gw1, 2)


def test_a_gateway_configured_for_tls_comes_online_over_it(broker_tls: TlsBroker, tmp_path: Path) -> None:
    assert broker_tls.ca is not None and broker_tls.broker.tls is not None
    config = gateway_toml(broker_tls, tmp_path)
    plain = f'host = "127.0.0.1"\nport = {broker_tls.port}\n'
    assert plain in config.read_text()
    config.write_text(config.read_text().replace(plain, (
        f'host = "localhost"\nport = {broker_tls.broker.tls.port}\ntls_ca_file = "{broker_tls.ca.cert}"\n')))
    with contextmanager(subscribed)(broker_tls, "ingest-tls-status", ("status",)) as subscriber:
        gateway = Gateway(load_config(config, environ={}))
        gateway.start()
        try:
            subscriber.wait_for(lambda: any(decode(Status, m.payload).state == "online"
                                            for m in subscriber.received("/status")), what="gw1 online over TLS")
            assert gateway.link.settings.tls_ca_file == str(broker_tls.ca.cert)
        finally:
            gateway.stop(drain_timeout=0.5)


def test_a_gateways_tls_files_are_found_beside_its_config_and_a_certificate_needs_a_ca(tmp_path: Path) -> None:
    path = tmp_path / "gw1.toml"
    with_tls = GATEWAY.replace('[mqtt]\npassword = "secret"\n', '[mqtt]\npassword = "secret"\ntls_ca_file = "tls/ca.crt"\n')
    path.write_text(with_tls)
    assert load_config(path, environ={}).mqtt.tls_ca_file == tmp_path / "tls" / "ca.crt"
    path.write_text(with_tls.replace('tls_ca_file = "tls/ca.crt"', 'tls_cert_file = "tls/gw1.crt"'))
    with pytest.raises(GatewayConfigError, match=r"mqtt\.tls_ca_file"):
        load_config(path, environ={})
