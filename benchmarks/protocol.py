"""Protocol figures: frame decoding and encoding against bare-Python baselines.

- 64-byte frames: ``FrameCodec.feed`` against the least any decoder must do in Python, a
  ``struct.unpack_from`` loop over the same bytes that also slices out each payload.
- 64 KiB frames: decode and encode in GB/s (goal: >= 1), the baseline a plain memoryview
  slicing / bytes-copy loop over the same bytes.
- A small request and its reply through two ``Connection`` objects in one process (a 100-byte
  READ_DATA): microseconds of protocol work per round trip (goal: <= 25), the baseline the same
  four frames built with ``struct.pack`` and parsed with ``struct.unpack_from`` and slicing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from benchmarks._harness import Measurement, case, measurement, paired_best
from sa3p_protocol import MAGIC, Connection, Frame, FrameCodec, Opcode, Role
from sa3p_protocol.messages import ReadData, ReadRequest

_HEADER = struct.Struct(">4sIBI")


def _stream(payload_size: int, count: int) -> bytes:
    frames = (
        Frame(1 + n % 7, Opcode.VFS_WRITE_CHUNK, bytes([n % 256]) * payload_size)
        for n in range(count)
    )
    return b"".join(frame.encode() for frame in frames)


def _bare_unpack_loop(data: bytes) -> int:
    position = 0
    end = len(data)
    unpack = _HEADER.unpack_from
    payloads: list[bytes] = []
    append = payloads.append
    while position < end:
        _magic, _stream_id, _opcode, length = unpack(data, position)
        start = position + 13
        position = start + length
        append(data[start:position])
    return len(payloads)


def _codec_decode(data: bytes, chunk: int) -> int:
    codec = FrameCodec()
    count = 0
    for start in range(0, len(data), chunk):
        count += len(codec.feed(data[start : start + chunk]))
    return count


@case("protocol")
def small_frames_decode(quick: bool) -> Iterable[Measurement]:
    count = 20_000 if quick else 200_000
    data = _stream(64 - 13, count)
    subject, baseline = paired_best(
        lambda: _codec_decode(data, len(data)),
        lambda: _bare_unpack_loop(data),
        repeat=3 if quick else 7,
    )
    yield measurement(
        group="protocol",
        case=f"decode {count} x 64-byte frames",
        unit="Mframes/s",
        subject=count / subject / 1e6,
        baseline_name="bare struct.unpack_from + slice loop",
        baseline=count / baseline / 1e6,
        goal="ratio>=",
        target=0.5,
    )


def _copy_loop(data: bytes, frame_size: int) -> int:
    view = memoryview(data)
    pieces = [bytes(view[start : start + frame_size]) for start in range(0, len(data), frame_size)]
    return len(pieces)


@case("protocol")
def large_frames(quick: bool) -> Iterable[Measurement]:
    count = 256 if quick else 2048
    payload = bytes(range(256)) * 256  # 64 KiB
    frames = [Frame(n % 5 + 1, Opcode.VFS_WRITE_CHUNK, payload) for n in range(count)]
    data = b"".join(frame.encode() for frame in frames)
    frame_size = 13 + len(payload)
    repeat = 3 if quick else 7
    gigabytes = len(data) / 1e9
    decode, copy = paired_best(
        lambda: _codec_decode(data, 256 * 1024), lambda: _copy_loop(data, frame_size), repeat=repeat
    )
    yield measurement(
        group="protocol",
        case=f"decode {count} x 64 KiB frames (fed in 256 KiB reads)",
        unit="GB/s",
        subject=gigabytes / decode,
        baseline_name="memoryview slice + bytes copy per frame",
        baseline=gigabytes / copy,
        goal="subject>=",
        target=1.0,
    )
    encode, copy = paired_best(
        lambda: [frame.encode() for frame in frames],
        lambda: _copy_loop(data, frame_size),
        repeat=repeat,
    )
    yield measurement(
        group="protocol",
        case=f"encode {count} x 64 KiB frames",
        unit="GB/s",
        subject=gigabytes / encode,
        baseline_name="memoryview slice + bytes copy per frame",
        baseline=gigabytes / copy,
        goal="subject>=",
        target=1.0,
    )


def _connected() -> tuple[Connection, Connection]:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    return client, server


def _round_trips(client: Connection, server: Connection, count: int) -> None:
    """``count`` times: the client opens a stream with a READ and ends it; the server answers
    100 bytes and ends; each side acknowledges what it received (what a remote read does)."""
    data = b"x" * 100
    for _ in range(count):
        stream_id = client.open_stream(ReadRequest("small.txt", 0, None), end_stream=True)
        events = server.receive_data(client.data_to_send())
        server.acknowledge(stream_id, events[0].flow_length)  # type: ignore[union-attr]
        server.send(stream_id, ReadData(data), end_stream=True)
        events = client.receive_data(server.data_to_send())
        client.acknowledge(stream_id, events[0].flow_length)  # type: ignore[union-attr]


_READ_PAYLOAD = struct.Struct(">I9sQ?Q")  # path length, b"small.txt", offset, no length


def _bare_frames(count: int) -> None:
    """The least any implementation does for one round trip: pack the four frames (request,
    END, READ_DATA, END), then unpack each batch's headers and slice out the payloads."""
    pack, unpack = _HEADER.pack, _HEADER.unpack_from
    data = b"x" * 100
    for stream_id in range(1, 2 * count, 2):
        request = _READ_PAYLOAD.pack(9, b"small.txt", 0, False, 0)
        for wire in (
            pack(MAGIC, stream_id, 0x01, len(request)) + request + pack(MAGIC, stream_id, 0x77, 0),
            pack(MAGIC, stream_id, 0x42, len(data)) + data + pack(MAGIC, stream_id, 0x77, 0),
        ):
            position, end, payloads = 0, len(wire), []
            while position < end:
                _magic, _stream_id, _opcode, length = unpack(wire, position)
                start = position + 13
                position = start + length
                payloads.append(wire[start:position])


@case("protocol")
def small_round_trip(quick: bool) -> Iterable[Measurement]:
    count = 2_000 if quick else 20_000
    client, server = _connected()
    _round_trips(client, server, 100)  # warm up
    subject, baseline = paired_best(
        lambda: _round_trips(client, server, count),
        lambda: _bare_frames(count),
        repeat=3 if quick else 7,
    )
    yield measurement(
        group="protocol",
        case="small request/response through two Connections in process (100-byte READ_DATA)",
        unit="us",
        subject=subject / count * 1e6,
        baseline_name="the 4 frames by struct.pack + unpack_from/slice loop",
        baseline=baseline / count * 1e6,
        goal="subject<=",
        target=25.0,
    )
