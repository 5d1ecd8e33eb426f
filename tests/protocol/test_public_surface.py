"""The package's public names, pinned: adding or removing one is a decision, made here."""

from __future__ import annotations

import sa3p_protocol
from sa3p_protocol import Message, messages
from sa3p_protocol._payload_codec import MESSAGE_TYPES

PUBLIC_NAMES = {
    # frames
    "Frame",
    "FrameCodec",
    "HEADER_LEN",
    "MAGIC",
    "Multiplexer",
    "Opcode",
    # payloads: the classes live in sa3p_protocol.messages
    "Message",
    "decode_message",
    "encode_message",
    "messages",
    # the connection
    "Connection",
    "ConnectionLimits",
    "ConnectionState",
    "Feature",
    "HANDSHAKE_MAX_PAYLOAD",
    "PROTOCOL_VERSION",
    "Role",
    "StreamState",
    # its events
    "ConnectionFailed",
    "Event",
    "GoAwayReceived",
    "HandshakeCompleted",
    "MessageReceived",
    "PingReceived",
    "PongReceived",
    "RequestReceived",
    "StreamEnded",
    "StreamReset",
    # errors
    "FrameTooShort",
    "IncompletePayload",
    "InvalidMagic",
    "MalformedPayload",
    "PayloadTooLarge",
    "ProtocolError",
    "TrailingBytes",
    "UnknownOpcode",
    "UsageError",
    "WireErrorCode",
}


def test_the_package_exports_exactly_these_names() -> None:
    assert set(sa3p_protocol.__all__) == PUBLIC_NAMES
    assert len(sa3p_protocol.__all__) == len(PUBLIC_NAMES)


def test_messages_exports_exactly_the_declared_classes() -> None:
    declared = {cls.__name__ for cls in MESSAGE_TYPES.values()} | {"TreeEntry", "HashEntry"}
    assert set(messages.__all__) == declared
    assert len(messages.__all__) == len(declared) == len(sa3p_protocol.Opcode) + 2
    for name in messages.__all__:
        cls = getattr(messages, name)
        assert issubclass(cls, Message) and cls.__module__ == "sa3p_protocol.messages"


def test_no_name_collides_with_the_engine() -> None:
    import sa3p_engine

    assert not set(sa3p_protocol.__all__) & set(sa3p_engine.__all__)
