"""What both clients share to set up a connection: limits, the channel, failures said plainly."""

from __future__ import annotations

from sa3p_host._channel import Channel
from sa3p_host._remote_errors import RemoteConnectionError, RemoteOperationError
from sa3p_host._transport import Address
from sa3p_protocol import MAGIC, Connection, ConnectionLimits, Feature, Role, WireErrorCode

__all__ = [
    "ANSWER_SECONDS",
    "CLIENT_LIMITS",
    "HANDSHAKE_SECONDS",
    "client_channel",
    "setup_failure",
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
"""How long a client waits for the guest's greeting (its HELLO): a guest answers at once, so
silence means the peer is not one."""

HANDSHAKE_SECONDS = 30.0
"""How long a client then waits for its first round trip (a busy guest may take a while)."""

_KNOWN_PEERS = (
    (b"SSH-", "an SSH server"),
    (b"HTTP/", "an HTTP server"),
    (b"\x15\x03", "a TLS server"),  # an alert record (RFC 8446 §5.1): it wanted a ClientHello
    (b"\x16\x03", "a TLS server"),
)


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


def setup_failure(
    address: Address,
    channel: Channel,
    error: RemoteConnectionError | RemoteOperationError | None,
) -> RemoteConnectionError:
    """Why a connection could not be set up, said plainly; ``error`` None: time ran out
    (``ANSWER_SECONDS`` for the greeting, then ``HANDSHAKE_SECONDS``).

    A peer that is not an sa3p guest is named by what it sent first (docs/PROTOCOL.md §8): the
    codec rejects it on its first byte that differs from ``b"SA3P"``.
    """
    first = channel.first_bytes
    reason = channel.closed or error
    if not channel.handshake_done and not MAGIC.startswith(first[: len(MAGIC)]):
        return RemoteConnectionError(
            WireErrorCode.INVALID_MAGIC,
            f"the peer at {address} is not an sa3p guest{_peer_kind(first)}: it sent {first!r}, "
            f"where a guest's greeting starts with {MAGIC!r}; is the address right?",
        )
    if reason is None or (
        not channel.handshake_done and reason.code is WireErrorCode.CONNECTION_LOST
    ):
        return RemoteConnectionError(
            WireErrorCode.HANDSHAKE_FAILED, _unanswered(address, channel, timed_out=not reason)
        )
    message = reason.message if isinstance(reason, RemoteConnectionError) else str(error)
    return RemoteConnectionError(
        reason.code, f"the guest at {address} refused the connection: {message}"
    )


def _unanswered(address: Address, channel: Channel, *, timed_out: bool) -> str:
    if channel.handshake_done:
        return f"the guest at {address} did not answer its first request in {HANDSHAKE_SECONDS:g} s"
    first = channel.first_bytes
    if timed_out:
        said = f"sent {first!r} but no whole greeting" if first else "sent no greeting"
        said += f" within {ANSWER_SECONDS:g} s"
    else:
        said = f"sent {first!r} and " if first else ""
        said += "closed the connection without a greeting"
    return f"the peer at {address} {said}; is an sa3p guest (sa3p serve) listening there?"


def _peer_kind(first: bytes) -> str:
    for prefix, kind in _KNOWN_PEERS:
        if first.startswith(prefix):
            return f" but {kind}"
    return ""
