"""EM4100 ASCII card readers: the reference's card, both variants, and a decoder that survives noise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers import CardFrame, Em4100Decoder, FrameError, ReaderError, encode_card
from readers.em4100 import Em4100Variant, card_checksum, decode_frame
from tests.readers.streams import chunkings, feed_all, without

VARIANTS: list[Em4100Variant] = ["rdm6300", "id12la"]
EXAMPLE_CARD = CardFrame(uid="0F003A6B5C", version=0x0F, number=3828572)

TABLE = [
    ("rdm6300", b"\x020F003A6B5C02\x03", EXAMPLE_CARD),
    ("id12la", b"\x020F003A6B5C02\r\n\x03", EXAMPLE_CARD),
    ("rdm6300", b"\x021A2B3C4D5E1E\x03", CardFrame("1A2B3C4D5E", 0x1A, 0x2B3C4D5E)),
]


@pytest.mark.parametrize(("variant", "frame", "card"), TABLE)
def test_reference_frames_decode_and_encode(variant: Em4100Variant, frame: bytes, card: CardFrame) -> None:
    assert Em4100Decoder(variant).feed(frame) == [card]
    assert encode_card(card.uid, variant) == frame


def test_the_reference_checksum_really_is_the_xor_of_the_five_bytes() -> None:
    assert 0x0F ^ 0x00 ^ 0x3A ^ 0x6B ^ 0x5C == 0x02 == card_checksum("0F003A6B5C")


def test_lower_case_hex_from_a_reader_gives_an_upper_case_uid() -> None:
    assert Em4100Decoder("rdm6300").feed(b"\x020f003a6b5c02\x03") == [EXAMPLE_CARD]


def test_id12la_accepts_lf_cr_as_well() -> None:
    assert Em4100Decoder("id12la").feed(b"\x020F003A6B5C02\n\r\x03") == [EXAMPLE_CARD]


def test_repeated_frames_while_a_card_stays_in_the_field_are_all_reported() -> None:
    frame = encode_card("0F003A6B5C", "rdm6300")
    assert Em4100Decoder("rdm6300").feed(frame * 3) == [EXAMPLE_CARD] * 3


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x020F003A6B5C03\x03", "checksum 03 does not match the XOR 02"),
        (b"\x020F003A6B5G02\x03", "non-hex"),
        (b"\x020F003A6B5C02\x04", "ends with"),
    ],
)
def test_broken_frames_say_what_is_wrong(frame: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        decode_frame(frame, "rdm6300")
    decoder = Em4100Decoder("rdm6300")
    assert decoder.feed(frame) == []
    assert decoder.bad_frames == 1


def test_a_frame_of_the_other_variant_is_not_taken_for_a_card() -> None:
    decoder = Em4100Decoder("rdm6300")
    assert decoder.feed(encode_card("0F003A6B5C", "id12la")) == []
    assert decoder.bad_frames == 1


@pytest.mark.parametrize("uid", ["0F003A6B5", "0F003A6B5C0", "0F003A6B5X"])
def test_encode_refuses_a_uid_that_is_not_ten_hex_digits(uid: str) -> None:
    with pytest.raises(ReaderError, match=repr(uid)):
        encode_card(uid, "rdm6300")


def test_an_unknown_variant_is_refused_by_name() -> None:
    with pytest.raises(ReaderError, match="'id20'"):
        Em4100Decoder("id20")  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------------------

uids = st.binary(min_size=5, max_size=5).map(lambda raw: raw.hex().upper())
variants = st.sampled_from(VARIANTS)


@settings(max_examples=200)
@given(variants, st.data())
def test_any_chunking_yields_the_same_cards(variant: Em4100Variant, data: st.DataObject) -> None:
    parts = data.draw(
        st.lists(
            st.one_of(uids.map(lambda uid: encode_card(uid, variant)), st.binary(max_size=20)), max_size=10
        )
    )
    stream = b"".join(parts)
    whole, chopped = Em4100Decoder(variant), Em4100Decoder(variant)
    assert feed_all(chopped.feed, data.draw(chunkings(stream))) == whole.feed(stream)
    assert (chopped.bad_frames, chopped.discarded_bytes, chopped.buffered) == (
        whole.bad_frames,
        whole.discarded_bytes,
        whole.buffered,
    )


@settings(max_examples=200)
@given(variants, st.binary(max_size=400), st.data())
def test_random_bytes_never_raise_and_every_byte_is_accounted_for(
    variant: Em4100Variant, noise: bytes, data: st.DataObject
) -> None:
    decoder = Em4100Decoder(variant)
    cards = feed_all(decoder.feed, data.draw(chunkings(noise)))
    assert len(cards) * decoder.frame_length + decoder.discarded_bytes + decoder.buffered == len(noise)
    assert decoder.buffered < decoder.frame_length


@settings(max_examples=200)
@given(variants, st.lists(st.tuples(without([0x02]), uids), max_size=10), without([0x02]))
def test_cards_between_noise_are_all_recovered(
    variant: Em4100Variant, pairs: list[tuple[bytes, str]], tail: bytes
) -> None:
    stream = b"".join(noise + encode_card(uid, variant) for noise, uid in pairs) + tail
    decoder = Em4100Decoder(variant)
    assert [card.uid for card in decoder.feed(stream)] == [uid for _, uid in pairs]
    assert decoder.bad_frames == 0


@settings(max_examples=200)
@given(variants, st.lists(st.tuples(uids, st.booleans(), st.integers(1, 255)), min_size=1, max_size=10))
def test_bad_checksums_are_counted_and_the_rest_recovered(
    variant: Em4100Variant, cases: list[tuple[str, bool, int]]
) -> None:
    stream = b""
    expected: list[str] = []
    for uid, corrupt, delta in cases:
        frame = encode_card(uid, variant)
        if corrupt:
            wrong = b"%02X" % ((card_checksum(uid) + delta) & 0xFF)
            frame = frame[:11] + wrong + frame[13:]
        else:
            expected.append(uid)
        stream += frame
    decoder = Em4100Decoder(variant)
    assert [card.uid for card in decoder.feed(stream)] == expected
    assert decoder.bad_frames == len(cases) - len(expected)
