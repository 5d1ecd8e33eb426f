"""What both clients share to set up a connection: limits, the channel, a refusal said plainly."""

from __future__ import annotations

from sa3p_host._channel import Channel
from sa3p_host._remote_errors import RemoteConnectionError, RemoteOperationError
from sa3p_host._transport import Address
from sa3p_protocol import Connection, ConnectionLimits, Role, WireErrorCode

__all__ = ["CLIENT_LIMITS", "HANDSHAKE_SECONDS", "client_channel", "refusal", "unreachable"]

CLIENT_LIMITS = ConnectionLimits(
    max_frame_payload=1024 * 1024,
    initial_stream_window=4 * 1024 * 1024,
    connection_window=16 * 1024 * 1024,
)
"""What a client accepts: replies (read data, process output) flow 4 MiB ahead per stream."""

HANDSHAKE_SECONDS = 30.0
"""How long a client waits for the handshake and its first round trip."""


def client_channel(token: bytes | None, limits: ConnectionLimits | None) -> Channel:
    """A client's channel, its HELLO queued."""
    return Channel(Connection(Role.CLIENT, token=token, limits=limits or CLIENT_LIMITS))


def unreachable(address: Address, error: OSError) -> RemoteConnectionError:
    return RemoteConnectionError(
        WireErrorCode.CONNECTION_LOST, f"cannot connect to {address}: {error.strerror or error}"
    )


def refusal(
    address: Address, channel: Channel, error: RemoteConnectionError | RemoteOperationError
) -> RemoteConnectionError:
    """Why the connection was refused during setup, said plainly."""
    reason = channel.closed or error
    message = reason.message if isinstance(reason, RemoteConnectionError) else str(error)
    return RemoteConnectionError(
        reason.code, f"the guest at {address} refused the connection: {message}"
    )
