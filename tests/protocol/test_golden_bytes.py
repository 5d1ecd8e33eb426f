"""Golden bytes: one frame of every message type, pinned byte for byte.

The frame and payload layouts are a compatibility contract (a Rust implementation and deployed
peers read them), so these literals never change; a refactoring of the codec must leave every
one of them as it is. Each frame is on stream 0x01020304.
"""

from __future__ import annotations

import pytest

from sa3p_protocol import Frame, Message, Opcode, WireErrorCode, decode_message, encode_message
from sa3p_protocol.messages import (
    AttachRequest,
    Auth,
    CloseStdinRequest,
    CloseTerminalRequest,
    CwdReply,
    CwdRequest,
    End,
    ErrorReply,
    GoAway,
    HashEntry,
    HashReply,
    HashRequest,
    Hello,
    ListProcessesRequest,
    ListTreeRequest,
    OkReply,
    Ping,
    PollRequest,
    Pong,
    ProcessListReply,
    PtyExit,
    PtyInput,
    PtyOutput,
    ReadData,
    ReadRequest,
    RecentHashesReply,
    RecentHashesRequest,
    RecentlyModifiedReply,
    RecentlyModifiedRequest,
    RemoveRequest,
    RenameRequest,
    Reset,
    ResizeRequest,
    RunReply,
    RunRequest,
    SignalReply,
    SignalRequest,
    SpawnReply,
    SpawnRequest,
    StatReply,
    StatRequest,
    TreeEntry,
    TreeReply,
    WindowUpdate,
    WriteAbort,
    WriteChunkData,
    WriteCommit,
    WriteOpenRequest,
    WriteReply,
)

D = bytes(range(32))

GOLDEN: list[tuple[Message, str]] = [
    (
        ReadRequest("src/a.py", 7, None),
        "5341335001020304010000001d000000087372632f612e70790000000000000007000000000000000000",
    ),
    (
        ReadRequest("caf\udce9", 2**40, 4096),
        "5341335001020304010000001900000004636166e90000010000000000010000000000001000",
    ),
    (
        WriteChunkData(b"<b>&amp;\x00\xff"),
        "5341335001020304020000000a3c623e26616d703b00ff",
    ),
    (
        RenameRequest("a", "dir/b"),
        "5341335001020304030000000e0000000161000000056469722f62",
    ),
    (
        SpawnRequest(command="ls -l"),
        "5341335001020304040000001a000000056c73202d6c0000000000000000000000000000180050",
    ),
    (
        SpawnRequest(
            argv=("make", "-j2"),
            cwd="sub",
            env=(("A", "1"), ("B", "é")),
            use_pty=True,
            rows=50,
            columns=132,
        ),
        "5341335001020304040000003c0000000000000002000000046d616b65000000032d6a3200000003"
        "7375620000000200000001410000000131000000014200000002c3a90100320084",
    ),
    (
        PtyInput(b"ls\n"),
        "534133500102030405000000036c730a",
    ),
    (
        WriteOpenRequest("out.txt"),
        "5341335001020304060000000b000000076f75742e747874",
    ),
    (
        WriteCommit(12, D),
        "53413350010203040700000028000000000000000c000102030405060708090a0b0c0d0e0f101112"
        "131415161718191a1b1c1d1e1f",
    ),
    (
        WriteAbort(),
        "53413350010203040800000000",
    ),
    (
        RemoveRequest("tmp", True),
        "5341335001020304090000000800000003746d7001",
    ),
    (
        StatRequest("README.md"),
        "53413350010203040a0000000d00000009524541444d452e6d64",
    ),
    (
        HashRequest("x.bin"),
        "53413350010203040b0000000900000005782e62696e",
    ),
    (
        ListTreeRequest("."),
        "53413350010203040c00000005000000012e",
    ),
    (
        RecentHashesRequest(10),
        "53413350010203040d000000040000000a",
    ),
    (
        CwdRequest(),
        "53413350010203040e00000000",
    ),
    (
        ResizeRequest(40, 100),
        "5341335001020304100000000400280064",
    ),
    (
        SignalRequest(1234, 15),
        "53413350010203041100000006000004d2000f",
    ),
    (
        CloseStdinRequest(),
        "53413350010203041200000000",
    ),
    (
        AttachRequest(77, 65536),
        "5341335001020304130000000c0000004d0000000000010000",
    ),
    (
        RunRequest("echo hi", 2.5),
        "53413350010203041400000013000000076563686f2068694004000000000000",
    ),
    (
        PollRequest(77, 0.25),
        "5341335001020304150000000c0000004d3fd0000000000000",
    ),
    (
        ListProcessesRequest(),
        "53413350010203041600000000",
    ),
    (
        CloseTerminalRequest(),
        "53413350010203041700000000",
    ),
    (
        OkReply(),
        "53413350010203044000000000",
    ),
    (
        ErrorReply(WireErrorCode.NOT_FOUND, "no such file: a", (("path", "a"),)),
        "5341335001020304410000002600010000000f6e6f20737563682066696c653a2061000000010000"
        "0004706174680000000161",
    ),
    (
        ReadData(b"hello"),
        "5341335001020304420000000568656c6c6f",
    ),
    (
        StatReply(path="a", is_directory=False, size=3, mtime=1.5),
        "5341335001020304430000001600000001610000000000000000033ff8000000000000",
    ),
    (
        HashReply(D),
        "53413350010203044400000020000102030405060708090a0b0c0d0e0f101112131415161718191a"
        "1b1c1d1e1f",
    ),
    (
        TreeReply(
            (
                TreeEntry(path="d", is_directory=True, descendant_file_count=2),
                TreeEntry(path="d/f", is_directory=False, modified_recently=True),
            )
        ),
        "5341335001020304450000001c00000002000000016401000000020000000003642f66000000000001",
    ),
    (
        RecentHashesReply((HashEntry("a", D), HashEntry("b", D[::-1]))),
        "5341335001020304460000004e000000020000000161000102030405060708090a0b0c0d0e0f1011"
        "12131415161718191a1b1c1d1e1f00000001621f1e1d1c1b1a191817161514131211100f0e0d0c0b"
        "0a09080706050403020100",
    ),
    (
        WriteReply(path="out.txt", bytes_written=12, sha256=D, created=True),
        "53413350010203044700000034000000076f75742e747874000000000000000c0001020304050607"
        "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f01",
    ),
    (
        SpawnReply(4321),
        "53413350010203044800000004000010e1",
    ),
    (
        PtyOutput(1024, b"out"),
        "5341335001020304490000000b00000000000004006f7574",
    ),
    (
        PtyExit(-9, 3.25, 2048),
        "53413350010203044a00000018fffffffffffffff7400a0000000000000000000000000800",
    ),
    (
        SignalReply(pid=5, signal=9, exited=True, exit_code=-9),
        "53413350010203044b000000100000000500090101fffffffffffffff7",
    ),
    (
        SignalReply(pid=5, signal=0, exited=False),
        "53413350010203044b0000001000000005000000000000000000000000",
    ),
    (
        RunReply(pid=6, head=b"h", tail=b"t", total_bytes=2, exit_code=0, duration=0.5),
        "53413350010203044c00000027000000060000000168000000017400000000000000020100000000"
        "000000003fe0000000000000",
    ),
    (
        RunReply(pid=6, head=b"", exit_code=None),
        "53413350010203044c00000025000000060000000000000000000000000000000000000000000000"
        "00000000000000000000",
    ),
    (
        ProcessListReply((1, 2, 70000)),
        "53413350010203044d0000001000000003000000010000000200011170",
    ),
    (
        CwdReply("/work"),
        "53413350010203044e00000009000000052f776f726b",
    ),
    (
        RecentlyModifiedRequest(("a.py", "b")),
        "53413350010203040f000000110000000200000004612e70790000000162",
    ),
    (
        RecentlyModifiedReply(("a.py",)),
        "53413350010203044f0000000c0000000100000004612e7079",
    ),
    (
        Hello(
            version=1,
            is_server=True,
            max_frame_payload=1 << 20,
            initial_stream_window=4 << 20,
            connection_window=8 << 20,
            max_open_streams=128,
            auth_required=True,
            features=("replay",),
            nonce=D,
            proof=D[::-1],
        ),
        "5341335001020304700000006a000101001000000040000000800000000000800100000001000000"
        "067265706c617900000020000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c"
        "1d1e1f000000201f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100",
    ),
    (
        Auth(D),
        "5341335001020304710000002400000020000102030405060708090a0b0c0d0e0f10111213141516"
        "1718191a1b1c1d1e1f",
    ),
    (
        Ping(2**64 - 1),
        "53413350010203047200000008ffffffffffffffff",
    ),
    (
        Pong(3),
        "534133500102030473000000080000000000000003",
    ),
    (
        GoAway(9, WireErrorCode.SHUTTING_DOWN, "bye"),
        "5341335001020304740000000d00000009010d00000003627965",
    ),
    (
        WindowUpdate(65536),
        "5341335001020304750000000400010000",
    ),
    (
        Reset(WireErrorCode.CANCELLED, "stop"),
        "5341335001020304760000000a010c0000000473746f70",
    ),
    (
        End(),
        "53413350010203047700000000",
    ),
]


def _frame_bytes(message: Message) -> bytes:
    opcode = type(message).OPCODE
    assert opcode is not None
    return Frame(0x01020304, opcode, encode_message(message)).encode()


def test_every_opcode_has_a_golden_example() -> None:
    assert {type(message).OPCODE for message, _ in GOLDEN} == set(Opcode)


@pytest.mark.parametrize(("message", "expected"), GOLDEN, ids=lambda value: type(value).__name__)
def test_encoding_is_pinned(message: Message, expected: str) -> None:
    assert _frame_bytes(message).hex() == expected


@pytest.mark.parametrize(("message", "expected"), GOLDEN, ids=lambda value: type(value).__name__)
def test_golden_bytes_decode_to_the_message(message: Message, expected: str) -> None:
    frame = Frame.decode(bytes.fromhex(expected))
    assert frame.stream_id == 0x01020304
    assert decode_message(frame.opcode, frame.payload) == message
