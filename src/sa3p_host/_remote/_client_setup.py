"""What both clients share to set up a connection: limits, the channel, a refusal said plainly."""

from __future__ import annotations

from sa3p_host._channel import Channel
from sa3p_host._remote_errors import RemoteConnectionError, RemoteOperationError
from sa3p_host._transport import Address
from sa3p_protocol import Connection, ConnectionLimits, Feature, Role, WireErrorCode

__all__ = [
    "ANSWER_SECONDS",
    "CLIENT_LIMITS",
    "HANDSHAKE_SECONDS",
    "client_channel",
    "refusal",
    "silence",
    "unreachable",
    "unsupported",
]

CLIENT_LIMITS = ConnectionLimits(
    max_frame_payload=1024 * 1024,
    initial_stream_window=4 * 1024 * 1024,
    connection_window=16 * 1024 * 1024,
)
"""What a client accepts: replies (read data, process output) flow 4 MiB ahead per stream."""

ANSWER_SECONDS = 2.0
"""How long a client waits for the guest's HELLO: a guest answers at once, so silence means
the peer is not one."""

HANDSHAKE_SECONDS = 30.0
"""How long a client then waits for its first round trip (a busy guest may take a while)."""


def client_channel(
    token: bytes | None, limits: ConnectionLimits | None, *, live_output: bool = True
) -> Channel:
    """A client's channel, its HELLO queued. It offers ``recently_modified`` (it can ask) and,
    with ``live_output``, ``live_output``: without it, the guest streams no command output."""
    features = (Feature.RECENTLY_MODIFIED, *((Feature.LIVE_OUTPUT,) if live_output else ()))
    connection = Connection(
        Role.CLIENT, token=token, limits=limits or CLIENT_LIMITS, features=features
    )
    return Channel(connection)


def unsupported(what: str) -> RemoteOperationError:
    """The guest did not offer a feature an operation needs (an older guest)."""
    return RemoteOperationError(
        WireErrorCode.UNSUPPORTED_OPERATION, f"the guest does not serve {what} (an older guest)"
    )


def unreachable(address: Address, error: OSError) -> RemoteConnectionError:
    return RemoteConnectionError(
        WireErrorCode.CONNECTION_LOST, f"cannot connect to {address}: {error.strerror or error}"
    )


def silence(address: Address) -> RemoteConnectionError:
    return RemoteConnectionError(
        WireErrorCode.HANDSHAKE_FAILED,
        f"nothing at {address} answered the sa3p handshake within {ANSWER_SECONDS:g} s; is an "
        f"sa3p guest (sa3p serve) listening there?",
    )


def refusal(
    address: Address, channel: Channel, error: RemoteConnectionError | RemoteOperationError
) -> RemoteConnectionError:
    """Why the connection was refused during setup, said plainly (a peer that does not speak
    sa3p is named by what it sent)."""
    reason = channel.closed or error
    if reason.code is WireErrorCode.INVALID_MAGIC and not channel.handshake_done:
        return RemoteConnectionError(
            reason.code,
            f"the peer at {address} is not an sa3p guest: it answered {channel.first_bytes!r} "
            f"(a guest's answer starts with b'SA3P'); is the address right?",
        )
    message = reason.message if isinstance(reason, RemoteConnectionError) else str(error)
    return RemoteConnectionError(
        reason.code, f"the guest at {address} refused the connection: {message}"
    )
