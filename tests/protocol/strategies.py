"""Hypothesis strategies for every payload type, derived from the layouts."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from sa3p_protocol import Message, WireErrorCode
from sa3p_protocol._payload_codec import MESSAGE_TYPES, Kind, WireField, wire_fields

_INTS = {
    Kind.U8: st.integers(0, 2**8 - 1),
    Kind.U16: st.integers(0, 2**16 - 1),
    Kind.U32: st.integers(0, 2**32 - 1),
    Kind.U64: st.integers(0, 2**64 - 1),
    Kind.I64: st.integers(-(2**63), 2**63 - 1),
}
_SHORT_TEXT = st.text(max_size=20)


def _field_strategy(field: WireField) -> st.SearchStrategy[Any]:
    kind = field.kind
    if field.name == "code":
        return st.sampled_from(WireErrorCode)
    if field.name == "increment":
        return st.integers(1, 2**32 - 1)
    if kind in _INTS:
        return _INTS[kind]
    simple: dict[Kind, st.SearchStrategy[Any]] = {
        Kind.F64: st.floats(allow_nan=False),
        Kind.BOOL: st.booleans(),
        Kind.SHA256: st.binary(min_size=32, max_size=32),
        Kind.OPT_U64: st.none() | _INTS[Kind.U64],
        Kind.OPT_I64: st.none() | _INTS[Kind.I64],
        Kind.STR: st.text(max_size=40),
        Kind.BYTES: st.binary(max_size=64),
        Kind.REST: st.binary(max_size=256),
        Kind.STR_LIST: st.lists(_SHORT_TEXT, max_size=4).map(tuple),
        Kind.STR_PAIRS: st.lists(st.tuples(_SHORT_TEXT, _SHORT_TEXT), max_size=4).map(tuple),
        Kind.U32_LIST: st.lists(_INTS[Kind.U32], max_size=6).map(tuple),
    }
    if kind is Kind.LIST:
        assert field.item is not None
        return st.lists(message_strategy(field.item), max_size=4).map(tuple)
    return simple[kind]


def _build(cls: type[Message], values: dict[str, Any]) -> Message | None:
    try:
        return cls(**values)
    except ValueError:
        return None  # e.g. SpawnRequest with both or neither of command and argv


def message_strategy(cls: type[Message]) -> st.SearchStrategy[Message]:
    """Valid instances of ``cls``."""
    fields = {field.name: _field_strategy(field) for field in wire_fields(cls)}
    built = st.fixed_dictionaries(fields).map(lambda values: _build(cls, values))
    return built.filter(lambda message: message is not None)  # type: ignore[return-value]


any_message: st.SearchStrategy[Message] = st.one_of(
    [message_strategy(cls) for cls in MESSAGE_TYPES.values()]
)


def splits(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """``data`` cut into pieces at arbitrary points (including empty pieces)."""
    cuts = st.lists(st.integers(0, len(data)), max_size=12).map(sorted)
    return cuts.map(
        lambda points: [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    )
