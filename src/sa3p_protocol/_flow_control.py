"""Flow control, both directions: receive windows with batched acknowledgements, and the send
scheduler that queues stream frames and sends them round robin within the windows."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from itertools import chain

from sa3p_protocol._frames import _HEADER, MAGIC, Opcode
from sa3p_protocol._transitions import StreamState
from sa3p_protocol._wire_errors import UsageError


class ReceiveWindow:
    """Credit the peer may still use, and credit the application has given back.

    Bytes are ``consume``d on arrival and ``acknowledge``d once the application has dealt with
    them. Given-back credit is advertised in batches: when half the window has accumulated, or
    when what the peer sees has dropped below one maximal frame (so a sender waiting for room
    for a whole frame always gets it once everything it sent is acknowledged: no deadlock).
    """

    __slots__ = ("available", "frame_limit", "initial", "pending", "unacknowledged")

    def __init__(self, initial: int, frame_limit: int) -> None:
        self.initial = initial
        self.frame_limit = frame_limit
        self.available = initial
        self.unacknowledged = 0
        self.pending = 0

    def consume(self, size: int) -> bool:
        """Take ``size`` bytes of credit; False if the peer overran the window."""
        if size > self.available:
            return False
        self.available -= size
        self.unacknowledged += size
        return True

    def acknowledge(self, size: int) -> int:
        """Give back ``size`` bytes; return the increment to advertise now (0: not yet).

        Raises:
            UsageError: more than was received and not yet acknowledged.
        """
        if not 0 <= size <= self.unacknowledged:
            raise UsageError(f"acknowledging {size} bytes, only {self.unacknowledged} outstanding")
        self.unacknowledged -= size
        self.pending += size
        if self.pending and (
            self.pending >= self.initial // 2 or self.available < self.frame_limit
        ):
            increment, self.pending = self.pending, 0
            self.available += increment
            return increment
        return 0


@dataclass(slots=True, eq=False)
class StreamRecord:
    """What the connection tracks for one stream (internal, mutable by the connection only).

    Built positionally, once per stream: a keyword call to a class costs twice as much.
    """

    stream_id: int
    local: bool
    """Opened by this side."""
    state: StreamState
    send_window: int
    receive: ReceiveWindow
    opened: bool = False
    """The opening frame has arrived (peer streams); always true for local ones."""
    blocked: bool = False
    """Has queued frames waiting for stream credit."""
    scheduled: bool = False
    """In the round-robin queue of streams with frames to send."""
    queue: deque[tuple[bytes, bytes]] = field(default_factory=deque)
    """Frames waiting to be sent, oldest first: each its header, packed, and its payload."""
    queued_bytes: int = 0
    """Their payload bytes."""


class SendScheduler:
    """Queued stream frames, served one frame per stream in turn.

    A frame leaves only when both its stream's window and the connection's window have room for
    its whole payload, so frames are never split. A stream short of credit steps aside
    (``blocked``) until a WINDOW_UPDATE; when the connection is short, everything waits and the
    turn order is kept, so no stream starves another (a bulk write cannot hold up PTY input by
    more than one frame per turn).
    """

    def __init__(self) -> None:
        self._ready: deque[StreamRecord] = deque()
        self.connection_window = 0

    def push(self, record: StreamRecord, opcode: Opcode, payload: bytes) -> None:
        """Queue a frame of ``opcode`` carrying ``payload`` on the stream."""
        size = len(payload)
        record.queue.append((_HEADER.pack(MAGIC, record.stream_id, opcode, size), payload))
        record.queued_bytes += size
        if not (record.blocked or record.scheduled):
            record.scheduled = True
            self._ready.append(record)

    def schedule(self, record: StreamRecord) -> None:
        """Put ``record`` in the turn order if it has frames and is not there already."""
        if not record.scheduled and record.queue:
            record.scheduled = True
            self._ready.append(record)

    def unblock(self, record: StreamRecord) -> None:
        if record.blocked:
            record.blocked = False
            self.schedule(record)

    def discard(self, record: StreamRecord) -> None:
        """Drop the stream's queued frames and its turn."""
        record.queue.clear()
        record.queued_bytes = 0
        if record.scheduled:
            record.scheduled = False
            self._ready.remove(record)

    def clear(self) -> None:
        self._ready.clear()

    def gather(self, parts: list[bytes], max_bytes: int | None) -> list[StreamRecord]:
        """Append sendable frames' bytes to ``parts``; return the records whose queues they
        emptied (a closed one can then be forgotten)."""
        ready, add = self._ready, parts.append
        window = self.connection_window
        if len(ready) == 1 and max_bytes is None:
            record = ready[0]
            size = record.queued_bytes
            if size <= window and size <= record.send_window:
                # One stream alone, everything it queued within both windows: its turns follow
                # one another, so all its frames go at once.
                ready.clear()
                record.scheduled = False
                parts += chain.from_iterable(record.queue)
                record.queue.clear()
                record.queued_bytes = 0
                record.send_window -= size
                self.connection_window = window - size
                return [record]
        drained: list[StreamRecord] = []
        budget = _UNLIMITED if max_bytes is None else max_bytes
        gathered = 0
        while ready and gathered < budget:
            record = ready[0]
            queue = record.queue
            header, payload = queue[0]
            size = len(payload)
            if size > window:
                break  # the whole connection waits for credit; the turn order is kept
            ready.popleft()
            if size > record.send_window:
                record.scheduled = False
                record.blocked = True
                continue
            queue.popleft()
            record.queued_bytes -= size
            record.send_window -= size
            window -= size
            add(header)
            add(payload)
            gathered += 13 + size
            if queue:
                ready.append(record)  # its next frame waits for the next turn
            else:
                record.scheduled = False
                drained.append(record)
        self.connection_window = window
        return drained


_UNLIMITED = 1 << 64  # more than any connection window lets through
