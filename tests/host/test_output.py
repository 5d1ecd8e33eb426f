"""CappedOutput keeps head, tail and total exactly, whatever the chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_host import CappedOutput


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=20),
    limit=st.integers(2, 64),
)
def test_head_tail_total_independent_of_chunking(data: bytes, cuts: list[int], limit: int) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    output = CappedOutput(limit)
    for start, end in zip([0, *points], [*points, len(data)], strict=True):
        output.append(data[start:end])
    segment = output.take()
    head_limit = limit // 2
    tail_limit = limit - head_limit
    assert segment.total_bytes == len(data)
    assert segment.head == data[:head_limit]
    rest = data[head_limit:]
    assert segment.tail == rest[-tail_limit:] if rest else segment.tail == b""
    assert output.take().total_bytes == 0  # a new segment starts after each take


def test_flood_memory_stays_bounded() -> None:
    output = CappedOutput(1024)
    for _ in range(10_000):
        output.append(b"y\n" * 500)
        assert len(output._head) + len(output._tail) <= 512 + 2 * 512
    segment = output.take()
    assert segment.total_bytes == 10_000_000
    assert len(segment.head) + len(segment.tail) == 1024


def test_limit_must_be_sensible() -> None:
    with pytest.raises(ValueError):
        CappedOutput(1)
