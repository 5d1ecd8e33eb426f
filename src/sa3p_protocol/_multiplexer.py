"""A FIFO queue of frames per stream (the original sa3p's multiplexer, kept)."""

from __future__ import annotations

from collections import deque

from sa3p_protocol._frames import Frame


class Multiplexer:
    """Frames grouped by stream id, first in first out within each stream.

    Streams are listed in the order they first received a frame; a stream whose queue empties
    is forgotten.
    """

    def __init__(self) -> None:
        self._queues: dict[int, deque[Frame]] = {}
        self._total = 0

    def push(self, frame: Frame) -> None:
        """Append ``frame`` to its stream's queue."""
        queue = self._queues.get(frame.stream_id)
        if queue is None:
            queue = self._queues[frame.stream_id] = deque()
        queue.append(frame)
        self._total += 1

    def pop_next(self, stream_id: int) -> Frame | None:
        """Remove and return the oldest frame of ``stream_id``, or None if it has none."""
        queue = self._queues.get(stream_id)
        if queue is None:
            return None
        frame = queue.popleft()
        self._total -= 1
        if not queue:
            del self._queues[stream_id]
        return frame

    def peek_next(self, stream_id: int) -> Frame | None:
        """The oldest frame of ``stream_id`` without removing it, or None."""
        queue = self._queues.get(stream_id)
        return queue[0] if queue else None

    def discard(self, stream_id: int) -> int:
        """Drop every queued frame of ``stream_id``; return how many there were."""
        queue = self._queues.pop(stream_id, None)
        count = len(queue) if queue else 0
        self._total -= count
        return count

    def stream_ids(self) -> list[int]:
        """Streams with queued frames."""
        return list(self._queues)

    def len_for_stream(self, stream_id: int) -> int:
        """How many frames ``stream_id`` has queued."""
        queue = self._queues.get(stream_id)
        return len(queue) if queue else 0

    def __len__(self) -> int:
        return self._total
