"""EPC decoding: SGTIN-96 to GTIN and serial, everything else kept raw, never a crash on a hex string."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers import RawEpc, ReaderError, Sgtin, decode_epc, encode_sgtin96
from readers.epc import gtin_check_digit

EXAMPLE = Sgtin(
    epc="3074257BF7194E4000001A85",
    gtin="80614141123458",
    company_prefix="0614141",
    item_reference="812345",
    serial=6789,
    filter=3,
    uri="urn:epc:id:sgtin:0614141.812345.6789",
)


def test_worked_example_from_the_reference() -> None:
    assert decode_epc("3074257BF7194E4000001A85") == EXAMPLE
    assert decode_epc("3074257bf7194e4000001a85") == EXAMPLE


def test_encoding_the_worked_example_gives_its_epc() -> None:
    assert encode_sgtin96("80614141123458", 6789, company_prefix_length=7, filter_value=3) == EXAMPLE.epc


@pytest.mark.parametrize(
    "epc",
    [
        "E2801170200014CD9B5A08EC",  # a TID-like / vendor EPC
        "7EDA9038051002710002C0AE",
        "3074257BF7194E4000001A",  # SGTIN header but 88 bits
        "307C257BF7194E4000001A85",  # partition 7 does not exist
        "303FFFFFFFFFFFFFFFFFFFFF",  # company prefix larger than its 12 digits
        "E280",
        "ABC",
    ],
)
def test_anything_that_is_not_an_sgtin96_comes_back_raw(epc: str) -> None:
    assert decode_epc(epc) == RawEpc(epc.upper())


@pytest.mark.parametrize("text", ["", "30 74", "3074257BF7194E4000001A8G", "0x3074"])
def test_non_hex_is_refused_by_name(text: str) -> None:
    with pytest.raises(ReaderError, match=repr(text)):
        decode_epc(text)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: encode_sgtin96("80614141123457", 1), "check digit 7, expected 8"),
        (lambda: encode_sgtin96("8061414112345", 1), "not 14 digits"),
        (lambda: encode_sgtin96("80614141123458", 1 << 38), "38 bits"),
        (lambda: encode_sgtin96("80614141123458", 1, company_prefix_length=13), "prefix length 13"),
        (lambda: encode_sgtin96("80614141123458", 1, filter_value=8), "filter value 8"),
    ],
)
def test_encode_refuses_what_cannot_be_an_sgtin96(call: object, message: str) -> None:
    with pytest.raises(ReaderError, match=message):
        call()  # type: ignore[operator]


gtins = st.text("0123456789", min_size=13, max_size=13).map(lambda head: head + str(gtin_check_digit(head)))


@settings(max_examples=200)
@given(gtins, st.integers(0, (1 << 38) - 1), st.integers(6, 12), st.integers(0, 7))
def test_encode_then_decode_gives_back_the_item(
    gtin: str, serial: int, prefix_length: int, filter_value: int
) -> None:
    epc = encode_sgtin96(gtin, serial, prefix_length, filter_value)
    decoded = decode_epc(epc)
    assert isinstance(decoded, Sgtin)
    assert (decoded.gtin, decoded.serial, decoded.filter) == (gtin, serial, filter_value)
    assert decoded.company_prefix == gtin[1 : 1 + prefix_length]
    assert decoded.uri == f"urn:epc:id:sgtin:{decoded.company_prefix}.{decoded.item_reference}.{serial}"
    assert len(epc) == 24 and epc == epc.upper()


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=32).map(bytes.hex))
def test_any_hex_string_decodes_without_raising(epc: str) -> None:
    decoded = decode_epc(epc)
    assert decoded.epc == epc.upper()


@settings(max_examples=200)
@given(st.binary(min_size=11, max_size=11).map(lambda rest: "30" + rest.hex()))
def test_random_sgtin_headers_never_raise(epc: str) -> None:
    assert isinstance(decode_epc(epc), Sgtin | RawEpc)
