"""The pole display: exact bytes the gateway sends, and what a simulated display then shows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers import ClearScreen, DisplayDecoder, DisplayScreen, Initialise, ReaderError, WriteLine, display
from readers.display import DisplayOp
from tests.readers.streams import chunkings, feed_all, without

TABLE = [
    (display.initialise(), b"\x1b@", Initialise()),
    (display.clear(), b"\x0c", ClearScreen()),
    (
        display.write_line(1, "Total EUR 3.48"),
        b"\x1bQATotal EUR 3.48      \r",
        WriteLine(1, "Total EUR 3.48      "),
    ),
    (display.write_line(2, "Thank you", width=12), b"\x1bQBThank you   \r", WriteLine(2, "Thank you   ")),
]


@pytest.mark.parametrize(("encoded", "wire", "op"), TABLE)
def test_commands_have_the_dm_d_layout(encoded: bytes, wire: bytes, op: DisplayOp) -> None:
    assert encoded == wire
    assert DisplayDecoder().feed(wire) == [op]


def test_long_text_is_cut_and_unshowable_characters_become_question_marks() -> None:
    assert display.write_line(1, "Crème brûlée × 2 — special offer") == b"\x1bQACr?me br?l?e ? 2 ? s\r"
    assert display.write_line(2, "tab\there\r") == b"\x1bQBtab?here?" + b" " * 11 + b"\r"


def test_show_clears_then_writes_the_lines_from_the_top() -> None:
    wire = display.show(["Ada Lovelace", "3 items  EUR 3.48"])
    screen = DisplayScreen()
    screen.apply(DisplayDecoder().feed(wire))
    assert screen.lines == ("Ada Lovelace", "3 items  EUR 3.48")
    assert wire.startswith(b"\x0c")


def test_a_cleared_or_reset_screen_is_blank() -> None:
    screen = DisplayScreen()
    decoder = DisplayDecoder()
    screen.apply(decoder.feed(display.show(["one", "two"]) + display.clear()))
    assert screen.lines == ("", "")
    screen.apply(decoder.feed(display.show(["one"]) + display.write_line(2, "two") + display.initialise()))
    assert screen.lines == ("", "")


def test_writing_one_line_keeps_the_other() -> None:
    screen = DisplayScreen()
    screen.apply(DisplayDecoder().feed(display.show(["Welcome", "Ada"]) + display.write_line(2, "Grace")))
    assert screen.lines == ("Welcome", "Grace")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: display.write_line(3, "x"), "line 3"),
        (lambda: display.write_line(0, "x"), "line 0"),
        (lambda: display.write_line(1, "x", width=0), "width 0"),
        (lambda: display.show(["a", "b", "c"]), "3 lines"),
    ],
)
def test_encoders_refuse_what_the_display_cannot_show(call: object, message: str) -> None:
    with pytest.raises(ReaderError, match=message):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x1bX", "ESC 58"),
        (b"\x1bQC", "'A' or 'B'"),
        (b"\x1bQA" + b"x" * 81, "without a CR"),
        (b"\x1bQAab\x07cd\r", "control byte 07"),
    ],
)
def test_broken_commands_are_counted_with_a_reason(wire: bytes, message: str) -> None:
    decoder = DisplayDecoder()
    assert decoder.feed(wire + display.clear()) == [ClearScreen()]
    assert decoder.bad_frames == 1
    assert decoder.last_error is not None and message in decoder.last_error


# --- properties -------------------------------------------------------------------------------------------

texts = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)
commands = st.one_of(
    st.just(display.initialise()),
    st.just(display.clear()),
    st.builds(display.write_line, st.sampled_from([1, 2]), texts),
)


@settings(max_examples=200)
@given(st.lists(st.one_of(commands, st.binary(max_size=10)), max_size=12).map(b"".join), st.data())
def test_any_chunking_yields_the_same_operations(stream: bytes, data: st.DataObject) -> None:
    whole, chopped = DisplayDecoder(), DisplayDecoder()
    assert feed_all(chopped.feed, data.draw(chunkings(stream))) == whole.feed(stream)
    assert (chopped.bad_frames, chopped.discarded_bytes, chopped.buffered) == (
        whole.bad_frames,
        whole.discarded_bytes,
        whole.buffered,
    )


@settings(max_examples=200)
@given(st.binary(max_size=400), st.data())
def test_random_bytes_never_raise(noise: bytes, data: st.DataObject) -> None:
    decoder = DisplayDecoder()
    DisplayScreen().apply(feed_all(decoder.feed, data.draw(chunkings(noise))))
    assert decoder.bad_frames <= noise.count(0x1B)
    assert decoder.buffered <= len(display.WRITE_PREFIX) + 1 + display.MAX_TEXT


@settings(max_examples=200)
@given(st.lists(st.tuples(without([0x1B, 0x0C]), commands), max_size=10), without([0x1B, 0x0C]))
def test_commands_between_noise_are_all_recovered(pairs: list[tuple[bytes, bytes]], tail: bytes) -> None:
    stream = b"".join(noise + command for noise, command in pairs) + tail
    decoder = DisplayDecoder()
    assert decoder.feed(stream) == [DisplayDecoder().feed(command)[0] for _, command in pairs]
    assert decoder.bad_frames == 0
    assert decoder.discarded_bytes == sum(len(noise) for noise, _ in pairs) + len(tail)


@settings(max_examples=200)
@given(st.lists(st.tuples(commands, st.booleans(), st.sampled_from(b"XYZ!1p")), min_size=1, max_size=10))
def test_unknown_escape_sequences_are_counted_and_the_rest_recovered(
    cases: list[tuple[bytes, bool, int]],
) -> None:
    stream = b""
    expected: list[DisplayOp] = []
    for command, broken, byte in cases:
        if broken:
            stream += bytes([0x1B, byte])
        expected.extend(DisplayDecoder().feed(command))
        stream += command
    decoder = DisplayDecoder()
    assert decoder.feed(stream) == expected
    assert decoder.bad_frames == sum(broken for _, broken, _ in cases)
