"""Handshake values: roles, limits, and the HMAC challenge-response.

The client sends HELLO with a 32-byte nonce. The server answers HELLO with its own nonce and,
when it has a token, its proof ``HMAC-SHA256(token, b"sa3p-server" + client nonce + server
nonce)``. The client checks it (a client with a token refuses a server that cannot prove it
knows the token) and sends AUTH with ``HMAC-SHA256(token, b"sa3p-client" + ...)``. Labels keep
one side's proof from being replayed as the other's; fresh nonces keep old proofs useless. The
token never crosses the wire.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass

from sa3p_protocol._errors import AuthenticationFailed, HandshakeFailed, UnsupportedVersion
from sa3p_protocol._replies import Hello

PROTOCOL_VERSION = 1
NONCE_LEN = 32
MIN_FRAME_PAYLOAD = 1024
MAX_WINDOW = 2**31 - 1


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What this side accepts; the first four are announced in HELLO.

    Attributes:
        max_frame_payload: largest payload accepted (checked at header time).
        initial_stream_window: receive credit for each new stream (>= max_frame_payload).
        connection_window: receive credit for the whole connection (>= max_frame_payload).
        max_open_streams: streams the peer may have open at once; one more fails the connection.
        max_pending_control: queued control replies (PONG...) before the peer counts as flooding.
        max_control_burst: control or ignored frames in a row, without stream progress, before
            the peer counts as flooding.
    """

    max_frame_payload: int = 1024 * 1024
    initial_stream_window: int = 1024 * 1024
    connection_window: int = 8 * 1024 * 1024
    max_open_streams: int = 128
    max_pending_control: int = 1024
    max_control_burst: int = 10_000

    def __post_init__(self) -> None:
        _check_limits(
            self.max_frame_payload,
            self.initial_stream_window,
            self.connection_window,
            self.max_open_streams,
            error=ValueError,
        )
        if self.max_pending_control < 1 or self.max_control_burst < 1:
            raise ValueError("control limits must be positive")


def _check_limits(
    payload: int,
    stream_window: int,
    connection_window: int,
    streams: int,
    *,
    error: type[Exception],
) -> None:
    # Windows at least one frame wide: a frame never waits for credit that cannot come.
    if not MIN_FRAME_PAYLOAD <= payload <= 0xFFFF_FFFF:
        raise error(f"max_frame_payload {payload} outside {MIN_FRAME_PAYLOAD}..2**32-1")
    for name, window in (
        ("initial_stream_window", stream_window),
        ("connection_window", connection_window),
    ):
        if not payload <= window <= MAX_WINDOW:
            raise error(f"{name} {window} outside max_frame_payload..2**31-1")
    if streams < 1:
        raise error(f"max_open_streams {streams} must be at least 1")


def build_hello(
    role: Role,
    limits: Limits,
    features: tuple[str, ...],
    nonce: bytes,
    *,
    auth_required: bool,
    proof: bytes = b"",
) -> Hello:
    """This side's HELLO."""
    return Hello(
        version=PROTOCOL_VERSION,
        is_server=role is Role.SERVER,
        max_frame_payload=limits.max_frame_payload,
        initial_stream_window=limits.initial_stream_window,
        connection_window=limits.connection_window,
        max_open_streams=limits.max_open_streams,
        auth_required=auth_required,
        features=features,
        nonce=nonce,
        proof=proof,
    )


def check_peer_hello(hello: Hello, expected_role: Role) -> None:
    """Reject a HELLO from the wrong side, another version, or with unusable limits.

    Raises:
        HandshakeFailed, UnsupportedVersion.
    """
    if hello.version != PROTOCOL_VERSION:
        raise UnsupportedVersion(
            f"peer speaks protocol version {hello.version}, not {PROTOCOL_VERSION}"
        )
    if hello.is_server != (expected_role is Role.SERVER):
        raise HandshakeFailed(f"expected a HELLO from the {expected_role.value}")
    if len(hello.nonce) != NONCE_LEN:
        raise HandshakeFailed(f"HELLO nonce is {len(hello.nonce)} bytes, not {NONCE_LEN}")
    _check_limits(
        hello.max_frame_payload,
        hello.initial_stream_window,
        hello.connection_window,
        hello.max_open_streams,
        error=HandshakeFailed,
    )


def proof(token: bytes, label: bytes, client_nonce: bytes, server_nonce: bytes) -> bytes:
    """HMAC-SHA256 of the label and both nonces under ``token``."""
    return hmac.new(token, label + client_nonce + server_nonce, hashlib.sha256).digest()


SERVER_LABEL = b"sa3p-server"
CLIENT_LABEL = b"sa3p-client"


def verify_proof(
    token: bytes | None, received: bytes, label: bytes, client_nonce: bytes, server_nonce: bytes
) -> None:
    """Check ``received`` in constant time; a side without a token accepts anything.

    Raises:
        AuthenticationFailed: the proof is missing or wrong.
    """
    if token is None:
        return
    expected = proof(token, label, client_nonce, server_nonce)
    if not hmac.compare_digest(expected, received):
        side = "server" if label == SERVER_LABEL else "client"
        raise AuthenticationFailed(f"the {side} did not prove it knows the token")


def answer_server_hello(hello: Hello, token: bytes | None, client_nonce: bytes) -> bytes:
    """The client's checks of the server's HELLO; return the client's proof for AUTH.

    Raises:
        HandshakeFailed, AuthenticationFailed, UnsupportedVersion.
    """
    check_peer_hello(hello, Role.SERVER)
    if hello.auth_required and token is None:
        raise AuthenticationFailed("the server requires a token and this client has none")
    if token is None:
        return b""
    if not hello.proof:
        raise AuthenticationFailed("the server did not prove it knows the token")
    verify_proof(token, hello.proof, SERVER_LABEL, client_nonce, hello.nonce)
    return proof(token, CLIENT_LABEL, client_nonce, hello.nonce)


def answer_client_hello(hello: Hello, token: bytes | None, server_nonce: bytes) -> bytes:
    """The server's checks of the client's HELLO; return the server's proof (empty: no token)."""
    check_peer_hello(hello, Role.CLIENT)
    return proof(token, SERVER_LABEL, hello.nonce, server_nonce) if token else b""
