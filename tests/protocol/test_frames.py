"""Frames, the incremental codec and the multiplexer (the original sa3p's layer, kept)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_protocol import (
    HEADER_LEN,
    MAGIC,
    Frame,
    FrameCodec,
    FrameTooShort,
    IncompletePayload,
    InvalidMagic,
    Multiplexer,
    Opcode,
    PayloadTooLarge,
    ProtocolError,
    TrailingBytes,
    UnknownOpcode,
)

from .oracle import HEADER
from .strategies import splits

frames_strategy = st.builds(
    Frame,
    st.integers(0, 2**32 - 1),
    st.sampled_from(Opcode),
    st.binary(max_size=300),
)


def test_wire_constants_and_original_opcodes_are_kept() -> None:
    assert MAGIC == b"SA3P"
    assert HEADER_LEN == 13
    original = {
        "VFS_READ": 1,
        "VFS_WRITE_CHUNK": 2,
        "VFS_RENAME": 3,
        "PTY_SPAWN": 4,
        "PTY_INPUT": 5,
    }
    assert {name: Opcode[name].value for name in original} == original


def test_encode_layout_is_exact() -> None:
    frame = Frame(0x01020304, Opcode.VFS_RENAME, b"abc")
    assert frame.encode() == b"SA3P\x01\x02\x03\x04\x03\x00\x00\x00\x03abc"


def test_frame_is_immutable_and_validated() -> None:
    frame = Frame(1, 2, b"x")
    assert frame.opcode is Opcode.VFS_WRITE_CHUNK
    with pytest.raises(AttributeError):
        frame.stream_id = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        Frame(-1, Opcode.PTY_INPUT, b"")
    with pytest.raises(ValueError):
        Frame(2**32, Opcode.PTY_INPUT, b"")
    with pytest.raises(ValueError):
        Frame(1, 0x99, b"")
    with pytest.raises(TypeError):
        Frame(1, Opcode.PTY_INPUT, "text")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(frames_strategy)
def test_round_trip_and_construct_oracle(frame: Frame) -> None:
    data = frame.encode()
    assert Frame.decode(data) == frame
    parsed = HEADER.parse(data)
    assert (parsed.stream_id, parsed.opcode, parsed.payload) == tuple(frame)
    built = HEADER.build(
        {"stream_id": frame.stream_id, "opcode": frame.opcode, "payload": frame.payload}
    )
    assert built == data


def test_decode_errors_are_typed_with_fields() -> None:
    good = Frame(7, Opcode.PTY_INPUT, b"hello").encode()
    with pytest.raises(FrameTooShort) as short:
        Frame.decode(good[:12])
    assert short.value.length == 12
    with pytest.raises(InvalidMagic) as magic:
        Frame.decode(b"XA3P" + good[4:])
    assert magic.value.found == b"XA3P" and magic.value.offset == 0
    with pytest.raises(UnknownOpcode) as unknown:
        Frame.decode(good[:8] + b"\xee" + good[9:])
    assert unknown.value.opcode == 0xEE and unknown.value.stream_id == 7
    with pytest.raises(IncompletePayload) as incomplete:
        Frame.decode(good[:-1])
    assert (incomplete.value.expected, incomplete.value.available) == (5, 4)
    with pytest.raises(TrailingBytes) as trailing:
        Frame.decode(good + b"zz")
    assert trailing.value.extra == 2


@settings(max_examples=150, deadline=None)
@given(
    st.lists(frames_strategy, max_size=8).flatmap(
        lambda fs: st.tuples(st.just(fs), splits(b"".join(f.encode() for f in fs)))
    )
)
def test_any_split_decodes_the_same_frames(case: tuple[list[Frame], list[bytes]]) -> None:
    frames, pieces = case
    codec = FrameCodec()
    decoded: list[Frame] = []
    for piece in pieces:
        decoded.extend(codec.feed(piece))
    assert decoded == frames
    assert codec.buffered_len == 0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(frames_strategy, max_size=8).flatmap(
        lambda fs: st.tuples(st.just(fs), splits(b"".join(f.encode() for f in fs)))
    )
)
def test_feed_fields_gives_the_frames_as_plain_tuples(
    case: tuple[list[Frame], list[bytes]],
) -> None:
    frames, pieces = case
    codec = FrameCodec()
    decoded = [fields for piece in pieces for fields in codec.feed_fields(piece)]
    assert decoded == [tuple(frame) for frame in frames]
    assert all(type(fields) is tuple and type(fields[2]) is bytes for fields in decoded)


def test_the_first_bad_header_is_reported_whatever_the_chunking() -> None:
    unknown = struct.pack(">4sIBI", MAGIC, 1, 0xEE, 0)
    bad_magic = struct.pack(">4sIBI", b"XXXX", 1, 0x01, 0)
    data = Frame(1, Opcode.VFS_READ, b"x").encode() + unknown + bad_magic
    with pytest.raises(UnknownOpcode):
        FrameCodec().feed(data)
    codec = FrameCodec()
    with pytest.raises(UnknownOpcode):
        for index in range(len(data)):
            codec.feed(data[index : index + 1])


def test_byte_by_byte_and_buffered_len() -> None:
    data = Frame(3, Opcode.READ_DATA, b"x" * 100).encode() * 3
    codec = FrameCodec()
    count = 0
    for index in range(len(data)):
        count += len(codec.feed(data[index : index + 1]))
        assert codec.buffered_len == (index + 1) % 113
    assert count == 3


def test_oversized_header_fails_before_payload_is_buffered() -> None:
    codec = FrameCodec(max_payload=1000)
    header = MAGIC + struct.pack(">IBI", 5, Opcode.VFS_WRITE_CHUNK, 1001)
    with pytest.raises(PayloadTooLarge) as error:
        codec.feed(header)
    assert (error.value.length, error.value.limit, error.value.stream_id) == (1001, 1000, 5)
    assert codec.buffered_len <= HEADER_LEN
    with pytest.raises(PayloadTooLarge):  # the codec stays failed
        codec.feed(b"")


def test_default_max_payload_is_finite() -> None:
    codec = FrameCodec()
    assert codec.max_payload == 16 * 1024 * 1024
    with pytest.raises(PayloadTooLarge):
        codec.feed(MAGIC + struct.pack(">IBI", 1, 2, 2**32 - 1))


def test_bad_magic_is_fatal_no_resync_and_offset_is_in_the_stream() -> None:
    codec = FrameCodec()
    good = Frame(1, Opcode.PTY_INPUT, b"ok").encode()
    assert codec.feed(good) == [Frame(1, Opcode.PTY_INPUT, b"ok")]
    with pytest.raises(InvalidMagic) as error:
        codec.feed(b"junk" + good[4:])
    assert error.value.offset == len(good)
    with pytest.raises(InvalidMagic):
        codec.feed(good)


def test_bad_magic_fails_on_its_first_wrong_byte_not_after_a_whole_header() -> None:
    codec = FrameCodec()
    assert codec.feed(b"SA") == [] and codec.feed(b"3") == []  # so far, a header's start
    with pytest.raises(InvalidMagic) as error:
        codec.feed(b"X")
    assert (error.value.found, error.value.offset) == (b"SA3X", 0)
    good = Frame(1, Opcode.PTY_INPUT, b"ok").encode()
    codec = FrameCodec()
    with pytest.raises(InvalidMagic) as error:
        codec.feed(good + b"SSH")  # what an SSH server says first, after one good frame
    assert (error.value.found, error.value.offset) == (b"SSH", len(good))


def test_large_frame_in_small_pieces_is_linear() -> None:
    # 4 MiB in 4 KiB pieces: a rescanning codec would do ~1000x the work (and time out).
    payload = bytes(range(256)) * 16384
    data = Frame(9, Opcode.VFS_WRITE_CHUNK, payload).encode()
    codec = FrameCodec()
    frames: list[Frame] = []
    for start in range(0, len(data), 4096):
        frames.extend(codec.feed(data[start : start + 4096]))
    assert frames == [Frame(9, Opcode.VFS_WRITE_CHUNK, payload)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.lists(st.binary(max_size=40), max_size=5))
def test_fuzz_only_protocol_errors_and_bounded_buffer(prefix: bytes, pieces: list[bytes]) -> None:
    codec = FrameCodec(max_payload=64)
    for piece in [prefix, *pieces]:
        try:
            codec.feed(piece)
        except ProtocolError:
            return
        assert codec.buffered_len < HEADER_LEN + 64


def test_multiplexer_keeps_fifo_per_stream() -> None:
    mux = Multiplexer()
    frames = [Frame(sid, Opcode.PTY_INPUT, bytes([n])) for n, sid in enumerate([1, 3, 1, 5, 3, 1])]
    for frame in frames:
        mux.push(frame)
    assert mux.stream_ids() == [1, 3, 5]
    assert [mux.len_for_stream(s) for s in (1, 3, 5, 7)] == [3, 2, 1, 0]
    assert [mux.pop_next(1) for _ in range(4)] == [frames[0], frames[2], frames[5], None]
    assert mux.stream_ids() == [3, 5]
    assert mux.peek_next(3) == frames[1] and mux.len_for_stream(3) == 2
    assert mux.discard(3) == 2 and len(mux) == 1
