"""Flow-control bookkeeping: receive windows with batched acknowledgements, stream records."""

from __future__ import annotations

from dataclasses import dataclass, field

from sa3p_protocol._errors import UsageError
from sa3p_protocol._state import StreamState


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


@dataclass(slots=True, kw_only=True)
class StreamRecord:
    """What the connection tracks for one stream (internal, mutable by the connection only)."""

    stream_id: int
    local: bool
    """Opened by this side."""
    state: StreamState
    send_window: int
    receive: ReceiveWindow
    opened: bool = field(default=False)
    """The opening frame has arrived (peer streams) or been queued (local ones)."""
    blocked: bool = False
    """Has queued frames waiting for stream credit."""
    scheduled: bool = False
    """In the round-robin queue of streams with frames to send."""
