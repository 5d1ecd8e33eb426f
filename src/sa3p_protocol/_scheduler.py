"""The send side of flow control: queued stream frames, sent round robin within the windows."""

from __future__ import annotations

from collections import deque

from sa3p_protocol._flow import StreamRecord
from sa3p_protocol._frames import _HEADER, HEADER_LEN, MAGIC, Frame
from sa3p_protocol._multiplexer import Multiplexer


class SendScheduler:
    """Frames waiting to go out, one FIFO per stream, served one frame per stream in turn.

    A frame leaves only when both its stream's window and the connection's window have room for
    its whole payload, so frames are never split. A stream short of credit steps aside
    (``blocked``) until a WINDOW_UPDATE; when the connection is short, everything waits and the
    turn order is kept, so no stream starves another (a bulk write cannot hold up PTY input by
    more than one frame per turn).
    """

    def __init__(self) -> None:
        self._queued = Multiplexer()
        self._ready: deque[int] = deque()
        self._bytes: dict[int, int] = {}
        self.connection_window = 0

    def push(self, record: StreamRecord, frame: Frame) -> None:
        self._queued.push(frame)
        self._bytes[record.stream_id] = self._bytes.get(record.stream_id, 0) + len(frame.payload)
        if not record.blocked:
            self.schedule(record)

    def schedule(self, record: StreamRecord) -> None:
        """Put ``record`` in the turn order if it has frames and is not there already."""
        if not record.scheduled and self._queued.len_for_stream(record.stream_id):
            record.scheduled = True
            self._ready.append(record.stream_id)

    def unblock(self, record: StreamRecord) -> None:
        if record.blocked:
            record.blocked = False
            self.schedule(record)

    def has_frames(self, stream_id: int) -> bool:
        return self._queued.len_for_stream(stream_id) > 0

    def queued_bytes(self, stream_id: int) -> int:
        return self._bytes.get(stream_id, 0)

    def discard(self, record: StreamRecord) -> None:
        """Drop the stream's queued frames and its turn."""
        self._queued.discard(record.stream_id)
        self._bytes.pop(record.stream_id, None)
        if record.scheduled:
            record.scheduled = False
            self._ready.remove(record.stream_id)

    def clear(self) -> None:
        self._queued = Multiplexer()
        self._ready.clear()
        self._bytes.clear()

    def gather(
        self, streams: dict[int, StreamRecord], parts: list[bytes], max_bytes: int | None
    ) -> list[StreamRecord]:
        """Append sendable frames' bytes to ``parts``; return the records that sent one."""
        sent: list[StreamRecord] = []
        gathered = 0
        while self._ready and (max_bytes is None or gathered < max_bytes):
            record = streams[self._ready[0]]
            frame = self._queued.peek_next(record.stream_id)
            assert frame is not None
            size = len(frame.payload)
            if size > self.connection_window:
                break  # the whole connection waits for credit; the turn order is kept
            self._ready.popleft()
            record.scheduled = False
            if size > record.send_window:
                record.blocked = True
                continue
            self._queued.pop_next(record.stream_id)
            self._bytes[record.stream_id] -= size
            self.connection_window -= size
            record.send_window -= size
            parts.append(_HEADER.pack(MAGIC, frame.stream_id, frame.opcode, size))
            parts.append(frame.payload)
            gathered += HEADER_LEN + size
            self.schedule(record)
            sent.append(record)
        return sent
