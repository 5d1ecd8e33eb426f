"""Every stream state x input pair, driven through the public API (habit 11).

Local inputs missing from the table raise ``UsageError``; remote ones reset the stream
(STREAM_CLOSED) while it is still known, and are ignored once it is closed.
"""

from __future__ import annotations

import itertools

import pytest

from sa3p_protocol import (
    Connection,
    ConnectionLimits,
    StreamReset,
    StreamState,
    UsageError,
    WireErrorCode,
)
from sa3p_protocol._transitions import STREAM_TRANSITIONS, StreamInput
from sa3p_protocol.messages import End, ReadData, WriteChunkData, WriteOpenRequest

from .helpers import connected_pair, exchange, raw


def _server_stream_in(state: StreamState) -> tuple[Connection, int]:
    client, server = connected_pair(server_limits=ConnectionLimits())
    stream_id = client.open_stream(WriteOpenRequest("f"))
    exchange(client, server)
    if state is StreamState.LOCAL_ENDED:
        server.end_stream(stream_id)
    elif state is StreamState.REMOTE_ENDED:
        client.end_stream(stream_id)
        exchange(client, server)
    elif state is StreamState.CLOSED:
        server.reset_stream(stream_id)
    assert server.stream_state(stream_id) is state
    return server, stream_id


def _apply(server: Connection, stream_id: int, step: StreamInput) -> list[object]:
    match step:
        case StreamInput.SEND:
            server.send(stream_id, ReadData(b"x"))
        case StreamInput.SEND_END:
            server.end_stream(stream_id)
        case StreamInput.RESET:
            server.reset_stream(stream_id)
        case StreamInput.RECEIVE:
            return list(server.receive_data(raw(stream_id, WriteChunkData(b"y"))))
        case StreamInput.RECEIVE_END:
            return list(server.receive_data(raw(stream_id, End())))
    return []


@pytest.mark.parametrize(("state", "step"), list(itertools.product(StreamState, StreamInput)))
def test_every_state_and_input(state: StreamState, step: StreamInput) -> None:
    server, stream_id = _server_stream_in(state)
    expected = STREAM_TRANSITIONS.get((state, step))
    local = step in (StreamInput.SEND, StreamInput.SEND_END, StreamInput.RESET)
    if expected is not None:
        _apply(server, stream_id, step)
        assert server.stream_state(stream_id) is expected
    elif local and step is StreamInput.RESET:  # resetting a closed stream does nothing
        assert _apply(server, stream_id, step) == []
    elif local:
        with pytest.raises(UsageError):
            _apply(server, stream_id, step)
    elif state is StreamState.CLOSED:
        assert _apply(server, stream_id, step) == []
    else:
        events = _apply(server, stream_id, step)
        assert len(events) == 1 and isinstance(events[0], StreamReset)
        assert events[0].code is WireErrorCode.STREAM_CLOSED
        assert server.stream_state(stream_id) is StreamState.CLOSED
