"""sa3p_protocol: binary frames, typed payloads and the flow-controlled, multiplexed
``Connection`` both ends use (Sans-IO: no sockets, no clock). docs/PROTOCOL.md is the
specification.

- Frames (wire-compatible with the original sa3p): ``Frame``, ``FrameCodec``, ``Opcode``,
  ``Multiplexer``, ``MAGIC``, ``HEADER_LEN``.
- Payloads: one class per opcode in ``sa3p_protocol.messages`` (all subclasses of ``Message``),
  ``encode_message`` / ``decode_message``.
- The connection: ``Connection`` with its ``ConnectionLimits``, ``Role``, states, and the
  events ``receive_data`` returns.
- Errors: ``WireErrorCode`` (what travels in ERROR, RESET and GOAWAY), ``ProtocolError`` and
  the frame and payload errors under it, ``UsageError``.
"""

from sa3p_protocol import messages
from sa3p_protocol._connection import Connection
from sa3p_protocol._connection_events import (
    ConnectionFailed,
    Event,
    GoAwayReceived,
    HandshakeCompleted,
    MessageReceived,
    PingReceived,
    PongReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
)
from sa3p_protocol._frames import HEADER_LEN, MAGIC, Frame, FrameCodec, Multiplexer, Opcode
from sa3p_protocol._handshake import (
    HANDSHAKE_MAX_PAYLOAD,
    PROTOCOL_VERSION,
    ConnectionLimits,
    Feature,
    Role,
)
from sa3p_protocol._payload_codec import Message, decode_message, encode_message
from sa3p_protocol._transitions import ConnectionState, StreamState
from sa3p_protocol._wire_errors import (
    FrameTooShort,
    IncompletePayload,
    InvalidMagic,
    MalformedPayload,
    PayloadTooLarge,
    ProtocolError,
    TrailingBytes,
    UnknownOpcode,
    UsageError,
    WireErrorCode,
)

__all__ = [
    "HANDSHAKE_MAX_PAYLOAD",
    "HEADER_LEN",
    "MAGIC",
    "PROTOCOL_VERSION",
    "Connection",
    "ConnectionFailed",
    "ConnectionLimits",
    "ConnectionState",
    "Event",
    "Feature",
    "Frame",
    "FrameCodec",
    "FrameTooShort",
    "GoAwayReceived",
    "HandshakeCompleted",
    "IncompletePayload",
    "InvalidMagic",
    "MalformedPayload",
    "Message",
    "MessageReceived",
    "Multiplexer",
    "Opcode",
    "PayloadTooLarge",
    "PingReceived",
    "PongReceived",
    "ProtocolError",
    "RequestReceived",
    "Role",
    "StreamEnded",
    "StreamReset",
    "StreamState",
    "TrailingBytes",
    "UnknownOpcode",
    "UsageError",
    "WireErrorCode",
    "decode_message",
    "encode_message",
    "messages",
]
