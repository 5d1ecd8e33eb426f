"""The table of live streams: id allocation, who may open what, and the open-stream caps."""

from __future__ import annotations

from sa3p_protocol._flow_control import ReceiveWindow, StreamRecord
from sa3p_protocol._frames import MAX_STREAM_ID, STREAM_OPENING_OPCODES, Opcode
from sa3p_protocol._handshake import ConnectionLimits, Role
from sa3p_protocol._transitions import StreamState
from sa3p_protocol._wire_errors import ProtocolError, WireErrorCode

_OPEN, _CLOSED = StreamState.OPEN, StreamState.CLOSED  # bound once (see _connection.py)


class StreamTable:
    """Live streams by id. Client streams are odd, server streams even; ids only grow, so an
    id at or below the highest seen that is not in the table is a closed stream.

    Records leave only through ``forget`` and ``clear``, which keep the counts of open local
    and peer streams the caps are checked against (no scan of the table per new stream).
    """

    def __init__(self, role: Role, limits: ConnectionLimits) -> None:
        self.records: dict[int, StreamRecord] = {}
        self.next_local_id = 1 if role is Role.CLIENT else 2
        self.highest_peer_id = 0
        self._peer_parity = 0 if role is Role.CLIENT else 1
        self._limits = limits
        self._local_count = 0
        self._peer_count = 0

    def can_open_local(self, peer_max_open_streams: int) -> bool:
        """Ids left, and fewer of our streams open than the peer allows."""
        if self.next_local_id > MAX_STREAM_ID:
            return False  # ids are never reused: open a new connection
        return self._local_count < peer_max_open_streams

    def open_local(self, send_window: int) -> StreamRecord:
        stream_id = self.next_local_id
        self.next_local_id += 2
        self._local_count += 1
        record = self.records[stream_id] = self._new(stream_id, send_window, local=True)
        return record

    def open_peer(
        self, stream_id: int, opcode: Opcode, send_window: int, *, accepting: bool
    ) -> StreamRecord | None:
        """The record for a frame (``opcode``) on a stream not in the table, or None to ignore
        the frame (a stream already closed, or a new one after our GOAWAY).

        Raises:
            ProtocolError: PROTOCOL_ERROR for a stream of ours never opened or one opened by a
                non-request opcode; STREAM_LIMIT for one stream more than ``max_open_streams``.
        """
        if stream_id % 2 != self._peer_parity:
            if stream_id >= self.next_local_id:
                raise ProtocolError(
                    WireErrorCode.PROTOCOL_ERROR,
                    f"frame on stream {stream_id}, never opened",
                    stream_id=stream_id,
                )
            return None
        if stream_id <= self.highest_peer_id or not accepting:
            return None
        if opcode not in STREAM_OPENING_OPCODES:
            message = f"stream {stream_id} opened by {opcode.name}"
            raise ProtocolError(WireErrorCode.PROTOCOL_ERROR, message, stream_id=stream_id)
        if self._peer_count >= self._limits.max_open_streams:
            message = f"more than {self._limits.max_open_streams} open streams"
            raise ProtocolError(WireErrorCode.STREAM_LIMIT, message, stream_id=stream_id)
        self.highest_peer_id = stream_id
        self._peer_count += 1
        record = self.records[stream_id] = self._new(stream_id, send_window, local=False)
        return record

    def forget(self, record: StreamRecord) -> None:
        """Drop ``record`` once it is closed and has nothing left to send."""
        if record.state is not _CLOSED or record.queue:
            return
        if self.records.pop(record.stream_id, None) is not None:
            if record.local:
                self._local_count -= 1
            else:
                self._peer_count -= 1

    def clear(self) -> None:
        self.records.clear()
        self._local_count = self._peer_count = 0

    def _new(self, stream_id: int, send_window: int, *, local: bool) -> StreamRecord:
        limits = self._limits
        receive = ReceiveWindow(limits.initial_stream_window, limits.max_frame_payload)
        # A stream of ours counts as opened from the start: nothing the peer sends on it is a
        # request.
        return StreamRecord(stream_id, local, _OPEN, send_window, receive, local)
