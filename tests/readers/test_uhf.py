"""The M100 / R200 codec: the protocol document's frames byte for byte, and a decoder that survives noise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers import FrameError, ReaderError, uhf
from readers.uhf import (
    CMD_HARDWARE_VERSION,
    CMD_MULTI_POLL,
    CMD_SINGLE_POLL,
    CMD_STOP_MULTI_POLL,
    ERROR_NO_TAG,
    FRAME_TYPE_COMMAND,
    FRAME_TYPE_NOTICE,
    MAX_FRAME,
    Command,
    ErrorResponse,
    Response,
    TagNotice,
    UhfDecoder,
    UhfMessage,
    decode_frame,
    encode_error,
    encode_frame,
    encode_response,
    encode_tag_notice,
    gen2_crc16,
)
from tests.readers.streams import chunkings, feed_all, uhf_frame_length, without

NOTICE_EXAMPLE = "BB 02 22 00 11 C4 30 00 30 74 25 7B F7 19 4E 40 00 00 1A 85 12 34 F0 7E"
EXAMPLE_EPC = "3074257BF7194E4000001A85"

# (what the host sends, the bytes from the protocol document, the command the module decodes)
COMMAND_TABLE = [
    (uhf.hardware_version(), "BB 00 03 00 01 00 04 7E", Command(CMD_HARDWARE_VERSION, b"\x00")),
    (uhf.single_poll(), "BB 00 22 00 00 22 7E", Command(CMD_SINGLE_POLL, b"")),
    (uhf.multi_poll(), "BB 00 27 00 03 22 27 10 83 7E", Command(CMD_MULTI_POLL, b"\x22\x27\x10")),
    (uhf.stop_multi_poll(), "BB 00 28 00 00 28 7E", Command(CMD_STOP_MULTI_POLL, b"")),
    (
        encode_frame(FRAME_TYPE_COMMAND, 0xB6, b"\x07\xd0"),
        "BB 00 B6 00 02 07 D0 8F 7E",
        Command(0xB6, b"\x07\xd0"),
    ),
]


@pytest.mark.parametrize(("encoded", "document", "command"), COMMAND_TABLE)
def test_commands_match_the_protocol_document(encoded: bytes, document: str, command: Command) -> None:
    assert encoded == bytes.fromhex(document)
    assert UhfDecoder().feed(encoded) == [command]


def test_inventory_notice_example_decodes_and_encodes_byte_for_byte() -> None:
    frame = bytes.fromhex(NOTICE_EXAMPLE)
    assert decode_frame(frame) == TagNotice(rssi=-60, pc=0x3000, epc=EXAMPLE_EPC, crc=0x1234)
    assert encode_tag_notice(EXAMPLE_EPC, -60, crc=0x1234) == frame


def test_no_tag_error_round_trips() -> None:
    frame = bytes.fromhex("BB 01 FF 00 01 15 16 7E")
    assert encode_error(ERROR_NO_TAG) == frame
    assert decode_frame(frame) == ErrorResponse(code=0x15)


def test_responses_keep_their_command_and_params() -> None:
    frame = encode_response(CMD_HARDWARE_VERSION, b"\x00M100 26dBm V1.0")
    assert decode_frame(frame) == Response(CMD_HARDWARE_VERSION, b"\x00M100 26dBm V1.0")


def test_gen2_crc_matches_the_catalogue_check_value() -> None:
    assert gen2_crc16(b"123456789") == 0xD64E


def test_simulated_notices_carry_the_crc_a_real_tag_would_report() -> None:
    notice = decode_frame(encode_tag_notice(EXAMPLE_EPC, -50))
    assert isinstance(notice, TagNotice)
    stored = notice.pc.to_bytes(2, "big") + bytes.fromhex(EXAMPLE_EPC) + notice.crc.to_bytes(2, "big")
    assert gen2_crc16(stored) == 0xE2F0  # the Gen2 receiver's residue: CRC over data + CRC is constant


@pytest.mark.parametrize(
    ("epc", "pc"),
    [
        ("E2801170", 0x1000),
        ("3074257BF7194E4000001A85", 0x3000),
        ("E2801170200014CD9B5A08EC01234567", 0x4000),
    ],
)
def test_epc_length_comes_from_the_pc_word(epc: str, pc: int) -> None:
    assert decode_frame(encode_tag_notice(epc, -70)) == TagNotice(
        -70, pc, epc, gen2_crc16(pc.to_bytes(2, "big") + bytes.fromhex(epc))
    )


def test_notice_whose_pc_disagrees_with_its_length_is_a_bad_frame() -> None:
    params = b"\xc4" + (0x4000).to_bytes(2, "big") + bytes.fromhex(EXAMPLE_EPC) + b"\x12\x34"
    frame = encode_frame(FRAME_TYPE_NOTICE, CMD_SINGLE_POLL, params)
    with pytest.raises(FrameError, match="announces a 16-byte EPC"):
        decode_frame(frame)
    decoder = UhfDecoder()
    assert decoder.feed(frame) == []
    assert decoder.bad_frames == 1
    assert decoder.last_error is not None and "PC 4000" in decoder.last_error


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: encode_tag_notice("3074ZZ", -60), "not hex"),
        (lambda: encode_tag_notice("307", -60), "not hex"),
        (lambda: encode_tag_notice(EXAMPLE_EPC, -200), "RSSI -200"),
        (lambda: encode_tag_notice(EXAMPLE_EPC, -60, pc=0x4000), "PC 16384"),
        (lambda: uhf.multi_poll(70000), "70000"),
        (lambda: encode_frame(0x05, 0x22), "frame type 5"),
        (lambda: encode_frame(FRAME_TYPE_COMMAND, 0x100), "command 256"),
        (lambda: encode_error(300), "error code 300"),
    ],
)
def test_encoders_refuse_what_cannot_be_sent(call: object, message: str) -> None:
    with pytest.raises(ReaderError, match=message):
        call()  # type: ignore[operator]


def test_decoder_resynchronises_after_a_truncated_frame() -> None:
    good = bytes.fromhex(NOTICE_EXAMPLE)
    decoder = UhfDecoder()
    messages = decoder.feed(b"\x00\x13" + good[:9] + good + uhf.single_poll())
    assert messages == [decode_frame(good), Command(CMD_SINGLE_POLL, b"")]
    assert decoder.bad_frames == 1
    assert decoder.buffered == 0


def test_an_absurd_declared_length_is_rejected_at_once_not_waited_for() -> None:
    decoder = UhfDecoder()
    assert decoder.feed(b"\xbb\x02\x22\xff\xff" + uhf.single_poll()) == [Command(CMD_SINGLE_POLL, b"")]
    assert decoder.bad_frames == 1
    assert decoder.discarded_bytes == 5


@settings(max_examples=20)
@given(st.binary(min_size=2000, max_size=4000))
def test_buffer_stays_bounded_under_noise(noise: bytes) -> None:
    decoder = UhfDecoder()
    for start in range(0, len(noise), 256):
        decoder.feed(noise[start : start + 256])
        assert decoder.buffered < MAX_FRAME


# --- properties -------------------------------------------------------------------------------------------

epcs = (
    st.integers(1, 8)
    .flatmap(lambda words: st.binary(min_size=2 * words, max_size=2 * words))
    .map(lambda raw: raw.hex().upper())
)
frames = st.one_of(
    st.builds(encode_tag_notice, epcs, st.integers(-128, 127)),
    st.builds(encode_error, st.integers(0, 255)),
    st.builds(encode_response, st.integers(0, 254), st.binary(max_size=30)),
    st.builds(encode_frame, st.just(FRAME_TYPE_COMMAND), st.integers(0, 255), st.binary(max_size=30)),
)


@settings(max_examples=200)
@given(
    st.lists(st.one_of(frames, st.binary(max_size=20)), max_size=12)
    .map(b"".join)
    .flatmap(lambda stream: st.tuples(st.just(stream), chunkings(stream)))
)
def test_any_chunking_yields_the_same_messages(case: tuple[bytes, list[bytes]]) -> None:
    stream, chunks = case
    whole, chopped = UhfDecoder(), UhfDecoder()
    assert feed_all(chopped.feed, chunks) == whole.feed(stream)
    assert (chopped.bad_frames, chopped.discarded_bytes, chopped.buffered) == (
        whole.bad_frames,
        whole.discarded_bytes,
        whole.buffered,
    )


@settings(max_examples=200)
@given(st.binary(max_size=600), st.data())
def test_random_bytes_never_raise_and_every_byte_is_accounted_for(noise: bytes, data: st.DataObject) -> None:
    decoder = UhfDecoder()
    messages = feed_all(decoder.feed, data.draw(chunkings(noise)))
    used = sum(uhf_frame_length(message) for message in messages)
    assert used + decoder.discarded_bytes + decoder.buffered == len(noise)


@settings(max_examples=200)
@given(st.lists(st.tuples(without([0xBB]), frames), max_size=10), without([0xBB]))
def test_frames_between_noise_are_all_recovered(pairs: list[tuple[bytes, bytes]], tail: bytes) -> None:
    stream = b"".join(noise + frame for noise, frame in pairs) + tail
    decoder = UhfDecoder()
    assert decoder.feed(stream) == [decode_frame(frame) for _, frame in pairs]
    assert decoder.bad_frames == 0
    assert decoder.discarded_bytes == sum(len(noise) for noise, _ in pairs) + len(tail)


clean_frames = st.one_of(
    st.builds(encode_tag_notice, epcs, st.integers(-128, 127)),
    st.builds(encode_response, st.integers(0, 254), st.binary(max_size=30)),
).filter(lambda frame: 0xBB not in frame[1:])


@settings(max_examples=200)
@given(st.lists(st.tuples(clean_frames, st.booleans(), st.integers(1, 255)), min_size=1, max_size=10))
def test_bad_checksums_are_counted_and_the_rest_recovered(cases: list[tuple[bytes, bool, int]]) -> None:
    stream = b""
    expected: list[UhfMessage] = []
    corrupted = 0
    for frame, corrupt, delta in cases:
        wrong = (frame[-2] + delta) & 0xFF
        if corrupt and wrong != 0xBB:
            stream += frame[:-2] + bytes([wrong]) + frame[-1:]
            corrupted += 1
        else:
            stream += frame
            expected.append(decode_frame(frame))
    decoder = UhfDecoder()
    assert decoder.feed(stream) == expected
    assert decoder.bad_frames == corrupted
    if corrupted:
        assert decoder.last_error is not None and "checksum" in decoder.last_error


def test_a_wrong_end_byte_is_counted() -> None:
    frame = bytearray(uhf.single_poll())
    frame[-1] = 0x7F
    decoder = UhfDecoder()
    assert decoder.feed(bytes(frame) + uhf.stop_multi_poll()) == [Command(CMD_STOP_MULTI_POLL, b"")]
    assert decoder.bad_frames == 1
    assert decoder.last_error == "frame ends with 7F, expected 7E"
