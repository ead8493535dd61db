"""The devices as pure state machines: exact answers, seeded timing, injected time (no sleeping)."""

from __future__ import annotations

import itertools

import pytest

from readers.display import show
from readers.em4100 import encode_card
from readers.uhf import (
    ERROR_NO_TAG,
    ErrorResponse,
    Response,
    TagNotice,
    UhfDecoder,
    encode_error,
    encode_response,
    hardware_version,
    multi_poll,
    single_poll,
    stop_multi_poll,
)
from simulators.devices import NOW, CardReaderDevice, PoleDisplayDevice, UhfReaderDevice
from simulators.errors import SimulatorError

EPC_A = "3074257BF7194E4000001A85"
EPC_B = "3034F4E4E400004000000001"


def notices(data: bytes) -> list[TagNotice]:
    messages = UhfDecoder().feed(data)
    assert all(isinstance(m, TagNotice) for m in messages), messages
    return [m for m in messages if isinstance(m, TagNotice)]


def test_hardware_version_and_empty_single_poll_are_answered_exactly() -> None:
    uhf = UhfReaderDevice("u", hardware="M100 26dBm V1.0")
    assert uhf.receive(hardware_version(), 0.0) == encode_response(0x03, b"\x00M100 26dBm V1.0")
    assert uhf.receive(single_poll(), 0.0) == encode_error(ERROR_NO_TAG)


def test_single_poll_sends_one_notice_per_tag_with_jittered_rssi() -> None:
    uhf = UhfReaderDevice("u", jitter_db=2)
    uhf.set_field({EPC_A: -45, EPC_B: -70})
    heard = notices(uhf.receive(single_poll(), 0.0))
    assert sorted(n.epc for n in heard) == sorted([EPC_A, EPC_B])
    rssi = {n.epc: n.rssi for n in heard}
    assert -47 <= rssi[EPC_A] <= -43 and -72 <= rssi[EPC_B] <= -68


def test_command_split_into_single_bytes_is_still_answered() -> None:
    uhf = UhfReaderDevice("u")
    out = b"".join(uhf.receive(bytes([b]), 0.0) for b in hardware_version())
    assert UhfDecoder().feed(out)[0] == Response(command=0x03, params=b"\x00M100 26dBm V1.0")


def test_multi_poll_runs_rounds_until_stopped() -> None:
    uhf = UhfReaderDevice("u", seed=7)
    uhf.set_field({EPC_A: -50, EPC_B: -60})
    assert uhf.receive(multi_poll(), 10.0) == b""  # no answer frame: notices follow
    rounds, now = [], 10.0
    for _ in range(20):
        due = uhf.next_due()
        assert due is not None
        now = due
        rounds.append((now, notices(uhf.tick(now))))
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(rounds)]
    assert all(0.05 <= gap <= 0.1 for gap in gaps)
    assert all(sorted(n.epc for n in r) == sorted([EPC_A, EPC_B]) for _, r in rounds)
    assert UhfDecoder().feed(uhf.receive(stop_multi_poll(), now)) == [Response(command=0x28, params=b"\x00")]
    assert uhf.next_due() is None and uhf.tick(now + 1.0) == b""


def test_multi_poll_count_limits_rounds() -> None:
    uhf = UhfReaderDevice("u")
    uhf.set_field({EPC_A: -50})
    uhf.receive(multi_poll(3), 0.0)
    sent = 0
    while (due := uhf.next_due()) is not None:
        sent += len(notices(uhf.tick(due)))
    assert sent == 3


def test_field_changes_show_in_the_next_round() -> None:
    uhf = UhfReaderDevice("u")
    uhf.receive(multi_poll(), 0.0)
    assert uhf.tick(0.0) == b""  # an empty field: a silent round
    uhf.set_field({EPC_B: -42})
    due = uhf.next_due()
    assert due is not None
    assert [n.epc for n in notices(uhf.tick(due))] == [EPC_B]


def test_same_seed_same_bytes_and_misses_happen_when_asked() -> None:
    def session(seed: int, miss_rate: float) -> bytes:
        uhf = UhfReaderDevice("u", seed=seed, miss_rate=miss_rate)
        uhf.set_field({EPC_A: -50, EPC_B: -55})
        uhf.receive(multi_poll(50), 0.0)
        out = b""
        while (due := uhf.next_due()) is not None:
            out += uhf.tick(due)
        return out

    assert session(3, 0.2) == session(3, 0.2)
    heard = len(notices(session(3, 0.2)))
    assert 50 <= heard < 100  # 2 tags x 50 rounds, some missed


def test_unknown_command_gets_an_error_and_settings_are_acknowledged() -> None:
    uhf = UhfReaderDevice("u")
    from readers.uhf import encode_frame

    assert UhfDecoder().feed(uhf.receive(encode_frame(0x00, 0x99, b""), 0.0)) == [ErrorResponse(code=0x17)]
    assert UhfDecoder().feed(uhf.receive(encode_frame(0x00, 0xB6, b"\x07\xd0"), 0.0)) == [
        Response(command=0xB6, params=b"\x00")
    ]


def test_rdm6300_repeats_the_frame_while_the_card_is_present() -> None:
    reader = CardReaderDevice("c", "rdm6300", seed=1)
    assert reader.next_due() is None
    reader.present("UID:0f003a6b5c")
    assert reader.next_due() == NOW
    frame = encode_card("0F003A6B5C", "rdm6300")
    assert reader.tick(5.0) == frame == b"\x020F003A6B5C02\x03"
    times = [5.0]
    for _ in range(10):
        due = reader.next_due()
        assert due is not None
        assert reader.tick(due) == frame
        times.append(due)
    assert all(0.10 <= b - a <= 0.15 for a, b in itertools.pairwise(times))
    reader.remove()
    assert reader.next_due() is None and reader.tick(100.0) == b""


def test_id12la_sends_once_per_presentation() -> None:
    reader = CardReaderDevice("c", "id12la")
    reader.present("0F003A6B5C")
    assert reader.tick(0.0) == encode_card("0F003A6B5C", "id12la")
    assert reader.next_due() is None and reader.tick(1.0) == b""
    reader.remove()
    reader.present("0F003A6B5C")
    assert reader.tick(2.0) == encode_card("0F003A6B5C", "id12la")


def test_card_reader_refuses_bad_uid_and_variant() -> None:
    with pytest.raises(SimulatorError, match="XYZ"):
        CardReaderDevice("c").present("XYZ")
    with pytest.raises(SimulatorError, match="wiegand"):
        CardReaderDevice("c", "wiegand")  # type: ignore[arg-type]


def test_pole_display_keeps_lines_and_history() -> None:
    display = PoleDisplayDevice("d")
    display.receive(show(["Welcome Ada", ""]), 0.0)
    data = show(["Total EUR 3.48", "Thank you!"])
    for index in range(len(data)):  # byte by byte, as a slow UART would deliver it
        display.receive(data[index : index + 1], 0.0)
    assert display.lines == ("Total EUR 3.48", "Thank you!")
    assert display.history[0] == ("Welcome Ada", "")
    assert display.history[-1] == ("Total EUR 3.48", "Thank you!")
