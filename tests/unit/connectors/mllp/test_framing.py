"""MLLP framing: frames put together from any split of the stream, noise skipped, oversized frames dropped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.mllp.framing import Frame, MllpDecoder, Oversized, encode_frame

ONE = b"MSH|^~\\&|A|B|C|D|20240508103104||ADT^A01|1|P|2.5\rPID|1||0703594417^^^CPR\r"
TWO = b"MSH|^~\\&|A|B|C|D|20240508103105||ADT^A03|2|P|2.5\rPID|1||2811804562^^^CPR\r"


def _payloads(items: list[Frame | Oversized]) -> list[bytes]:
    return [item.payload for item in items if isinstance(item, Frame)]


def test_encode_frame() -> None:
    assert encode_frame(b"MSH|x\r") == b"\x0bMSH|x\r\x1c\r"
    with pytest.raises(ValueError, match="block characters"):
        encode_frame(b"a\x1cb")


def test_one_frame_in_one_read() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(encode_frame(ONE)) == [Frame(ONE)]
    assert decoder.pending == 0
    assert decoder.discarded == 0


def test_a_frame_split_into_single_bytes_is_put_together() -> None:
    decoder = MllpDecoder()
    stream = encode_frame(ONE) + encode_frame(TWO)
    out: list[Frame | Oversized] = []
    for i in range(len(stream)):
        out += decoder.feed(stream[i : i + 1])
    assert _payloads(out) == [ONE, TWO]
    assert decoder.discarded == 0


def test_two_frames_in_one_read() -> None:
    assert _payloads(MllpDecoder().feed(encode_frame(ONE) + encode_frame(TWO))) == [ONE, TWO]


def test_the_end_block_and_its_carriage_return_may_arrive_in_separate_reads() -> None:
    decoder = MllpDecoder()
    stream = encode_frame(ONE)
    assert decoder.feed(stream[:-1]) == [Frame(ONE)]  # ends with FS
    assert decoder.feed(b"\r" + encode_frame(TWO)) == [Frame(TWO)]
    assert decoder.discarded == 0


def test_garbage_between_frames_is_skipped_and_counted() -> None:
    decoder = MllpDecoder()
    stream = b"noise\r\n" + encode_frame(ONE) + b"\r\n\r\n junk " + encode_frame(TWO) + b"tail"
    assert _payloads(decoder.feed(stream)) == [ONE, TWO]
    assert decoder.discarded == len(b"noise\r\n") + len(b"\r\n\r\n junk ") + len(b"tail")


def test_a_missing_carriage_return_after_the_end_block_is_tolerated() -> None:
    stream = b"\x0b" + ONE + b"\x1c" + b"\x0b" + TWO + b"\x1c"
    assert _payloads(MllpDecoder().feed(stream)) == [ONE, TWO]


def test_a_start_block_inside_a_frame_drops_the_cut_off_frame() -> None:
    decoder = MllpDecoder()
    out = decoder.feed(b"\x0bMSH|cut off")
    out += decoder.feed(b" here\x0b" + ONE + b"\x1c\r")
    assert _payloads(out) == [ONE]
    assert decoder.discarded == len(b"MSH|cut off here")


def test_an_oversized_frame_is_dropped_as_it_arrives_and_reported_with_its_head() -> None:
    decoder = MllpDecoder(max_frame_bytes=100)
    big = ONE + b"OBX|" + b"x" * 5000 + b"\r"
    stream = encode_frame(big) + encode_frame(TWO)
    out: list[Frame | Oversized] = []
    for i in range(0, len(stream), 64):
        out += decoder.feed(stream[i : i + 64])
        assert decoder.pending <= len(big)
        assert len(decoder._buffer) <= 100 + 64  # never the whole frame in memory
    assert len(out) == 2
    oversized = out[0]
    assert isinstance(oversized, Oversized)
    assert oversized.size == len(big)
    assert oversized.head.startswith(ONE)
    assert out[1] == Frame(TWO)


def test_a_frame_exactly_at_the_limit_is_accepted() -> None:
    assert MllpDecoder(max_frame_bytes=len(ONE)).feed(encode_frame(ONE)) == [Frame(ONE)]
    assert isinstance(MllpDecoder(max_frame_bytes=len(ONE) - 1).feed(encode_frame(ONE))[0], Oversized)


def test_an_empty_frame_is_a_frame() -> None:
    assert MllpDecoder().feed(b"\x0b\x1c\r") == [Frame(b"")]


@given(
    st.lists(st.binary(max_size=200).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b"")), max_size=5),
    st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=20),
)
def test_any_split_of_the_stream_gives_the_same_frames(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    decoder = MllpDecoder()
    out: list[Frame | Oversized] = []
    i = 0
    for n in cuts * (len(stream) // max(1, sum(cuts)) + 1):
        out += decoder.feed(stream[i : i + n])
        i += n
    out += decoder.feed(stream[i:])
    assert _payloads(out) == payloads
