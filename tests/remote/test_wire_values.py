"""Engine values survive their trip through the wire messages, both ways, field by field."""

from __future__ import annotations

from typing import TypeVar

from hypothesis import given
from hypothesis import strategies as st

from sa3p_engine import FileStat, NodeKind, RunResult, SignalResult, TreeNode, WriteReceipt
from sa3p_host import _wire_values as wire
from sa3p_protocol import Message, decode_message, encode_message

_PATHS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)
_U32 = st.integers(0, 2**32 - 1)
_U64 = st.integers(0, 2**64 - 1)
_EXIT = st.none() | st.integers(-(2**63), 2**63 - 1)
_FLOAT = st.floats(allow_nan=False)


M = TypeVar("M", bound=Message)


def _through_the_wire(message: M) -> M:
    """As the peer receives it: encoded, then decoded."""
    assert message.OPCODE is not None
    decoded = decode_message(message.OPCODE, encode_message(message))
    assert type(decoded) is type(message)
    return decoded


@given(
    st.builds(
        RunResult,
        pid=_U32,
        head=st.binary(max_size=64),
        tail=st.binary(max_size=64),
        total_bytes=_U64,
        exit_code=_EXIT,
        duration=_FLOAT,
    )
)
def test_a_run_result_comes_back_equal(result: RunResult) -> None:
    assert wire._run_result(_through_the_wire(wire.run_reply(result))) == result


@given(
    st.builds(
        SignalResult, pid=_U32, signal=st.integers(0, 64), exited=st.booleans(), exit_code=_EXIT
    )
)
def test_a_signal_result_comes_back_equal(result: SignalResult) -> None:
    assert wire._signal_result(_through_the_wire(wire.signal_reply(result))) == result


@given(
    st.builds(
        WriteReceipt,
        path=_PATHS,
        bytes_written=_U64,
        sha256=st.binary(min_size=32, max_size=32).map(bytes.hex),
        created=st.booleans(),
    )
)
def test_a_write_receipt_comes_back_equal(receipt: WriteReceipt) -> None:
    assert wire.write_receipt(_through_the_wire(wire.write_reply(receipt))) == receipt


@given(
    st.builds(
        FileStat,
        path=_PATHS,
        kind=st.sampled_from([NodeKind.FILE, NodeKind.DIRECTORY]),
        size=_U64,
        mtime=_FLOAT,
    )
)
def test_a_file_stat_comes_back_equal(info: FileStat) -> None:
    assert wire._file_stat(_through_the_wire(wire.stat_reply(info))) == info


@given(
    st.builds(
        TreeNode,
        path=_PATHS,
        kind=st.sampled_from([NodeKind.FILE, NodeKind.DIRECTORY]),
        descendant_file_count=_U32,
        modified_recently=st.booleans(),
    )
)
def test_a_tree_node_comes_back_equal(node: TreeNode) -> None:
    assert wire._tree_node(wire.tree_entry(node)) == node
