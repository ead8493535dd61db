"""The Modbus I/O board through pymodbus on both sides: what the world sets, a gateway's client reads;
what the client switches, the world sees."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymodbus.client import ModbusSerialClient

from readers.modbus import (
    ALARM_COIL,
    DEFAULT_UNIT,
    DOOR_INPUT,
    LOCK_COIL,
    TEMPERATURE_REGISTER,
    decode_temperature,
)
from simulators.hub import DeviceHub
from simulators.modbus_device import ModbusIoDevice


@pytest.fixture
def io_and_client(hub: DeviceHub) -> Iterator[tuple[ModbusIoDevice, ModbusSerialClient]]:
    modem = hub.add_null_modem()
    io = ModbusIoDevice()
    io.serve(modem.device_path)
    client = ModbusSerialClient(modem.host_path, baudrate=9600, timeout=1, retries=1)
    assert client.connect()
    try:
        yield io, client
    finally:
        client.close()  # type: ignore[no-untyped-call]
        io.stop()


def test_client_reads_the_temperature_the_world_sets(
    io_and_client: tuple[ModbusIoDevice, ModbusSerialClient],
) -> None:
    io, client = io_and_client
    for celsius in (3.0, 8.4, -18.5):
        io.set_temperature(celsius)
        reply = client.read_holding_registers(TEMPERATURE_REGISTER, count=1, device_id=DEFAULT_UNIT)
        assert not reply.isError()
        assert decode_temperature(reply.registers[0]) == celsius


def test_client_reads_the_door(io_and_client: tuple[ModbusIoDevice, ModbusSerialClient]) -> None:
    io, client = io_and_client
    assert client.read_discrete_inputs(DOOR_INPUT, count=1, device_id=DEFAULT_UNIT).bits[0] is False
    io.set_door(True)
    assert client.read_discrete_inputs(DOOR_INPUT, count=1, device_id=DEFAULT_UNIT).bits[0] is True


def test_alarm_and_lock_coils_set_by_the_client_are_seen(
    io_and_client: tuple[ModbusIoDevice, ModbusSerialClient],
) -> None:
    io, client = io_and_client
    assert (io.alarm, io.lock) == (False, False)
    assert not client.write_coil(ALARM_COIL, True, device_id=DEFAULT_UNIT).isError()
    assert (io.alarm, io.lock) == (True, False)
    assert not client.write_coil(LOCK_COIL, True, device_id=DEFAULT_UNIT).isError()
    assert client.read_coils(0, count=2, device_id=DEFAULT_UNIT).bits[:2] == [True, True]
    client.write_coil(ALARM_COIL, False, device_id=DEFAULT_UNIT)
    assert (io.alarm, io.lock) == (False, True)
    assert io.coil_writes == [(ALARM_COIL, True), (LOCK_COIL, True), (ALARM_COIL, False)]


def test_temperature_register_is_read_only(io_and_client: tuple[ModbusIoDevice, ModbusSerialClient]) -> None:
    io, client = io_and_client
    io.set_temperature(4.0)
    assert client.write_register(TEMPERATURE_REGISTER, 999, device_id=DEFAULT_UNIT).isError()
    reply = client.read_holding_registers(TEMPERATURE_REGISTER, count=1, device_id=DEFAULT_UNIT)
    assert decode_temperature(reply.registers[0]) == 4.0
