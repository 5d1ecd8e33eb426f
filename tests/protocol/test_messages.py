"""Typed payloads: the fast codec against the construct oracle, malformed input, fuzz."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_protocol import (
    Frame,
    MalformedPayload,
    Message,
    Opcode,
    WireErrorCode,
    decode_message,
    encode_message,
)
from sa3p_protocol._payload_codec import (
    MESSAGE_TYPES,
    Kind,
    Str,
    message,
    message_frame,
    wire_fields,
)
from sa3p_protocol.messages import (
    ErrorReply,
    ProcessListReply,
    PtyOutput,
    ReadRequest,
    ResizeRequest,
    RunReply,
    SignalReply,
    SpawnRequest,
    StatRequest,
    TreeEntry,
    TreeReply,
    WindowUpdate,
    WriteCommit,
)

from .oracle import from_construct, schema_for, to_construct
from .strategies import any_message, message_strategy

ENGINE_ERROR_NAMES = [
    "NOT_FOUND",
    "OUTSIDE_WORKSPACE",
    "INVALID_PATH",
    "IS_A_DIRECTORY",
    "NOT_A_DIRECTORY",
    "PERMISSION_DENIED",
    "TOO_LARGE",
    "WRITER_CLOSED",
    "UNKNOWN_PROCESS",
    "INVALID_SIGNAL",
    "SPAWN_FAILED",
    "CLOSED",
    "CONNECTION_LOST",
    "IO_ERROR",
    "WRITE_MISMATCH",
]


def test_every_opcode_has_exactly_one_payload_type() -> None:
    assert set(MESSAGE_TYPES) == set(Opcode)
    assert all(cls.OPCODE is opcode for opcode, cls in MESSAGE_TYPES.items())


def test_the_registry_is_built_from_the_declarations() -> None:
    with pytest.raises(TypeError, match="VFS_READ is ReadRequest's"):

        @message(Opcode.VFS_READ)
        class SecondRead(Message):
            path: Str

    assert MESSAGE_TYPES[Opcode.VFS_READ] is ReadRequest
    assert [(field.name, field.kind) for field in wire_fields(ReadRequest)] == [
        ("path", Kind.STR),
        ("offset", Kind.U64),
        ("length", Kind.OPT_U64),
    ]
    assert wire_fields(TreeReply)[0].item is TreeEntry


def test_error_codes_carry_the_engine_names() -> None:
    # The remote layer maps by name; the protocol does not import the engine.
    from sa3p_engine import ErrorCode as EngineErrorCode

    assert [code.name for code in EngineErrorCode] == ENGINE_ERROR_NAMES
    assert all(WireErrorCode[name].value < 256 for name in ENGINE_ERROR_NAMES)


@settings(max_examples=400, deadline=None)
@given(any_message)
def test_fast_codec_matches_the_construct_oracle(message: Message) -> None:
    schema = schema_for(type(message))
    payload = encode_message(message)
    assert schema.build(to_construct(message)) == payload
    assert from_construct(type(message), schema.parse(payload)) == message
    opcode = type(message).OPCODE
    assert opcode is not None
    assert decode_message(opcode, payload) == message


@settings(max_examples=200, deadline=None)
@given(any_message, st.integers(0, 2**32 - 1))
def test_message_frames_round_trip_through_bytes(message: Message, stream_id: int) -> None:
    frame = message_frame(stream_id, message)
    decoded = Frame.decode(frame.encode())
    assert decode_message(decoded.opcode, decoded.payload) == message


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(MESSAGE_TYPES)), st.binary(max_size=120))
def test_fuzz_payloads_decode_or_raise_malformed(opcode: Opcode, payload: bytes) -> None:
    try:
        message = decode_message(opcode, payload)
    except MalformedPayload as error:
        assert error.opcode == opcode and error.reason
        return
    assert isinstance(message, MESSAGE_TYPES[opcode])


@settings(max_examples=100, deadline=None)
@given(message_strategy(TreeReply), st.data())
def test_truncation_and_trailing_bytes_are_malformed(message: Message, data: st.DataObject) -> None:
    payload = encode_message(message)
    cut = data.draw(st.integers(0, len(payload) - 1))
    with pytest.raises(MalformedPayload):
        decode_message(Opcode.TREE_RESULT, payload[:cut])
    with pytest.raises(MalformedPayload, match="after the last field"):
        decode_message(Opcode.TREE_RESULT, payload + b"\x00")


def test_a_lying_count_is_refused_without_work() -> None:
    with pytest.raises(MalformedPayload):
        decode_message(Opcode.PROCESS_LIST, b"\xff\xff\xff\xff")
    with pytest.raises(MalformedPayload):
        decode_message(Opcode.TREE_RESULT, b"\x7f\xff\xff\xff" + b"\x00" * 8)


def test_unknown_error_code_is_malformed() -> None:
    payload = encode_message(ErrorReply(WireErrorCode.NOT_FOUND, "no such file: a.txt"))
    with pytest.raises(MalformedPayload):
        decode_message(Opcode.ERROR, b"\x7f\x7f" + payload[2:])


def test_examples_with_exact_bytes() -> None:
    assert encode_message(ReadRequest("a", 2, None)) == (
        b"\x00\x00\x00\x01a" + b"\x00" * 7 + b"\x02" + b"\x00" + b"\x00" * 8
    )
    assert encode_message(PtyOutput(5, b"hi")) == b"\x00" * 7 + b"\x05hi"
    assert encode_message(WindowUpdate(65536)) == b"\x00\x01\x00\x00"


def test_values_are_validated_and_frozen() -> None:
    with pytest.raises(ValueError):
        SpawnRequest(command="ls", argv=("ls",))
    with pytest.raises(ValueError):
        SpawnRequest()
    with pytest.raises(ValueError):
        WriteCommit(3, b"short")
    with pytest.raises(ValueError):
        WindowUpdate(0)
    for build in (
        lambda: ResizeRequest(70_000, 80),  # a u16
        lambda: ReadRequest("a", -1),  # a u64
        lambda: ReadRequest("a", 0, 2**64),  # an optional u64
        lambda: SignalReply(pid=1, signal=9, exited=True, exit_code=2**63),  # an optional i64
    ):
        with pytest.raises(ValueError, match="outside"):
            build()
    assert ProcessListReply([1, 2]).pids == (1, 2)  # type: ignore[arg-type]
    reply = ErrorReply(1, "no such file", [("path", "a.txt")])  # type: ignore[arg-type]
    assert reply.code is WireErrorCode.NOT_FOUND and reply.detail("path") == "a.txt"
    with pytest.raises(AttributeError):
        reply.message = "x"  # type: ignore[misc]


def test_non_utf8_paths_survive() -> None:
    path = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    assert decode_message(Opcode.VFS_STAT, encode_message(StatRequest(path))) == StatRequest(path)
    entry = TreeReply((TreeEntry(path=path, is_directory=False),))
    assert decode_message(Opcode.TREE_RESULT, encode_message(entry)) == entry


def test_run_reply_keeps_none_exit_code_and_digest_sizes() -> None:
    reply = RunReply(pid=4, head=b"a", tail=b"z", total_bytes=10, exit_code=None)
    assert decode_message(Opcode.RUN_RESULT, encode_message(reply)) == reply
    digest = hashlib.sha256(b"x").digest()
    assert decode_message(
        Opcode.VFS_WRITE_COMMIT, encode_message(WriteCommit(1, digest))
    ) == WriteCommit(1, digest)
