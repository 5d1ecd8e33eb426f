"""The handshake: roles, limits, and the HELLO/AUTH exchange with its HMAC challenge-response.

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
import secrets
from dataclasses import dataclass

from sa3p_protocol._frames import Opcode
from sa3p_protocol._wire_errors import PayloadTooLarge, ProtocolError, WireErrorCode
from sa3p_protocol.messages import Auth, Hello

PROTOCOL_VERSION = 1
HANDSHAKE_MAX_PAYLOAD = 4096
"""The largest frame payload a ``Connection`` accepts until its handshake completes (or its
own ``max_frame_payload`` if smaller): room for HELLO, AUTH and GOAWAY, and all a peer that has
not authenticated can make it buffer (header included: 13 + 4096 bytes)."""
NONCE_LEN = 32
MIN_FRAME_PAYLOAD = 1024
MAX_WINDOW = 2**31 - 1


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class Feature(enum.StrEnum):
    """Optional capabilities a side offers in its HELLO; a connection has those both offered
    (``Connection.features``). An older peer offers none of these, so neither side relies on
    them with it."""

    LIVE_OUTPUT = "live_output"
    """The client wants, and the guest sends, PTY_OUTPUT messages on PTY_RUN and PTY_POLL
    streams as the command prints, before the RUN_RESULT."""
    RECENTLY_MODIFIED = "recently_modified"
    """The guest serves VFS_RECENTLY_MODIFIED."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLimits:
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
        problem = limits_problem(self)
        if problem:
            raise ValueError(problem)
        if self.max_pending_control < 1 or self.max_control_burst < 1:
            raise ValueError("control limits must be positive")


def limits_problem(limits: ConnectionLimits | Hello) -> str | None:
    """What makes these limits unusable, or None. Windows must be at least one frame wide, so
    a frame never waits for credit that cannot come."""
    payload = limits.max_frame_payload
    if not MIN_FRAME_PAYLOAD <= payload <= 0xFFFF_FFFF:
        return f"max_frame_payload {payload} outside {MIN_FRAME_PAYLOAD}..2**32-1"
    for name in ("initial_stream_window", "connection_window"):
        window = getattr(limits, name)
        if not payload <= window <= MAX_WINDOW:
            return f"{name} {window} outside max_frame_payload..2**31-1"
    if limits.max_open_streams < 1:
        return f"max_open_streams {limits.max_open_streams} must be at least 1"
    return None


def check_peer_hello(hello: Hello, expected_role: Role) -> None:
    """Reject a HELLO from the wrong side, another version, or with unusable limits.

    Raises:
        ProtocolError: UNSUPPORTED_VERSION or HANDSHAKE_FAILED.
    """
    if hello.version != PROTOCOL_VERSION:
        message = f"peer speaks protocol version {hello.version}, not {PROTOCOL_VERSION}"
        raise ProtocolError(WireErrorCode.UNSUPPORTED_VERSION, message)
    if hello.is_server != (expected_role is Role.SERVER):
        problem: str | None = f"expected a HELLO from the {expected_role.value}"
    elif len(hello.nonce) != NONCE_LEN:
        problem = f"HELLO nonce is {len(hello.nonce)} bytes, not {NONCE_LEN}"
    else:
        problem = limits_problem(hello)
    if problem:
        raise ProtocolError(WireErrorCode.HANDSHAKE_FAILED, problem)


def make_proof(token: bytes, label: bytes, client_nonce: bytes, server_nonce: bytes) -> bytes:
    """HMAC-SHA256 of the label and both nonces under ``token``."""
    return hmac.new(token, label + client_nonce + server_nonce, hashlib.sha256).digest()


SERVER_LABEL = b"sa3p-server"
CLIENT_LABEL = b"sa3p-client"


def verify_proof(
    token: bytes | None, received: bytes, label: bytes, client_nonce: bytes, server_nonce: bytes
) -> None:
    """Check ``received`` in constant time; a side without a token accepts anything.

    Raises:
        ProtocolError: AUTH_FAILED, the proof is missing or wrong.
    """
    if token is None:
        return
    expected = make_proof(token, label, client_nonce, server_nonce)
    if not hmac.compare_digest(expected, received):
        side = "server" if label == SERVER_LABEL else "client"
        raise _auth_failed(f"the {side} did not prove it knows the token")


class Handshake:
    """One side of the HELLO/AUTH exchange: builds this side's messages and checks the peer's.

    It holds what the proofs need, not the connection's state (the ``Connection``'s table does).

    Args:
        nonce: 32 bytes (random by default; fixed ones are for tests).
    """

    def __init__(
        self,
        role: Role,
        limits: ConnectionLimits,
        token: bytes | None,
        features: tuple[str, ...],
        nonce: bytes | None,
    ) -> None:
        self.role, self.limits, self.token, self.features = role, limits, token, tuple(features)
        self.nonce = nonce if nonce is not None else secrets.token_bytes(NONCE_LEN)
        if len(self.nonce) != NONCE_LEN:
            raise ValueError(f"nonce must be {NONCE_LEN} bytes")

    def hello(self, proof: bytes = b"") -> Hello:
        """This side's HELLO; a server's asks for AUTH when it has a token."""
        limits = self.limits
        return Hello(
            version=PROTOCOL_VERSION,
            is_server=self.role is Role.SERVER,
            max_frame_payload=limits.max_frame_payload,
            initial_stream_window=limits.initial_stream_window,
            connection_window=limits.connection_window,
            max_open_streams=limits.max_open_streams,
            auth_required=self.role is Role.SERVER and self.token is not None,
            features=self.features,
            nonce=self.nonce,
            proof=proof,
        )

    def answer(self, hello: Hello) -> Hello | Auth:
        """Check the peer's HELLO; return what this side sends next (the client: its AUTH, the
        server: its HELLO with its proof).

        Raises:
            ProtocolError: HANDSHAKE_FAILED, AUTH_FAILED or UNSUPPORTED_VERSION.
        """
        token = self.token
        if self.role is Role.SERVER:
            check_peer_hello(hello, Role.CLIENT)
            return self.hello(
                make_proof(token, SERVER_LABEL, hello.nonce, self.nonce) if token else b""
            )
        check_peer_hello(hello, Role.SERVER)
        if token is None:
            if hello.auth_required:
                raise _auth_failed("the server requires a token and this client has none")
            return Auth(b"")
        verify_proof(token, hello.proof, SERVER_LABEL, self.nonce, hello.nonce)
        return Auth(make_proof(token, CLIENT_LABEL, self.nonce, hello.nonce))

    def check_auth(self, received: bytes, client_nonce: bytes) -> None:
        """The server's check of the client's AUTH.

        Raises:
            ProtocolError: AUTH_FAILED.
        """
        verify_proof(self.token, received, CLIENT_LABEL, client_nonce, self.nonce)


def before_handshake(opcode: Opcode) -> ProtocolError:
    """A frame other than HELLO, AUTH or GOAWAY while the handshake is still going on."""
    message = f"{opcode.name} before the handshake completed"
    return ProtocolError(WireErrorCode.HANDSHAKE_FAILED, message)


def said_of_the_handshake(error: PayloadTooLarge) -> PayloadTooLarge:
    """The same error, saying that the limit was the handshake's (``HANDSHAKE_MAX_PAYLOAD``)."""
    return PayloadTooLarge(
        length=error.length,
        limit=error.limit,
        stream_id=error.stream_id or 0,
        offset=error.offset,
        handshake=True,
    )


def _auth_failed(message: str) -> ProtocolError:
    return ProtocolError(WireErrorCode.AUTH_FAILED, message)
