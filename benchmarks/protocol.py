"""Protocol figures: frame decoding and encoding against bare-Python baselines.

- 64-byte frames: ``FrameCodec.feed`` against the least any decoder must do in Python, a
  ``struct.unpack_from`` loop over the same bytes that also slices out each payload.
- 64 KiB frames: decode and encode in GB/s (goal: >= 1), the baseline a plain memoryview
  slicing / bytes-copy loop over the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from benchmarks._harness import Measurement, case, measurement, paired_best
from sa3p_protocol import Frame, FrameCodec, Opcode

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
