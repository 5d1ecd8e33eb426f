"""Small helpers for driving pairs of Connections in tests."""

from __future__ import annotations

from sa3p_protocol import (
    Connection,
    ConnectionLimits,
    Event,
    HandshakeCompleted,
    Message,
    MessageReceived,
    RequestReceived,
    Role,
)
from sa3p_protocol._payload_codec import message_frame


def raw(stream_id: int, message: Message) -> bytes:
    return message_frame(stream_id, message).encode()


def exchange(
    client: Connection, server: Connection, *, acknowledge: bool = True, rounds: int = 20
) -> tuple[list[Event], list[Event]]:
    """Move bytes both ways until quiet; return (client events, server events)."""
    client_events: list[Event] = []
    server_events: list[Event] = []
    for _ in range(rounds):
        to_server = client.data_to_send()
        new_server = server.receive_data(to_server)
        to_client = server.data_to_send()
        new_client = client.receive_data(to_client)
        if acknowledge:
            _acknowledge(server, new_server)
            _acknowledge(client, new_client)
        server_events += new_server
        client_events += new_client
        if not (to_server or to_client or new_server or new_client):
            break
    return client_events, server_events


def _acknowledge(connection: Connection, events: list[Event]) -> None:
    for event in events:
        if isinstance(event, RequestReceived | MessageReceived):
            connection.acknowledge(event.stream_id, event.flow_length)


def connected_pair(
    *,
    client_limits: ConnectionLimits | None = None,
    server_limits: ConnectionLimits | None = None,
    token: bytes | None = None,
) -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT, limits=client_limits, token=token, features=("replay", "x"))
    server = Connection(Role.SERVER, limits=server_limits, token=token, features=("replay",))
    client_events, server_events = exchange(client, server)
    assert any(isinstance(event, HandshakeCompleted) for event in client_events)
    assert any(isinstance(event, HandshakeCompleted) for event in server_events)
    return client, server
