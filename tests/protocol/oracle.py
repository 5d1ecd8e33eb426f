"""The payload layouts as ``construct`` schemas: an independent oracle for the fast codec.

Built from the same declarations (each message class's annotated fields), but
encoded and decoded by construct instead of the precompiled ``struct`` runs. Tests only:
construct is a test dependency.
"""

from __future__ import annotations

from typing import Any

import construct as c

from sa3p_protocol import Message
from sa3p_protocol._payload_codec import Kind, WireField, wire_fields

HEADER = c.Struct(
    "magic" / c.Const(b"SA3P"),
    "stream_id" / c.Int32ub,
    "opcode" / c.Int8ub,
    "payload" / c.Prefixed(c.Int32ub, c.GreedyBytes),
)

_STR = c.PascalString(c.Int32ub, "utf8")
_SIMPLE: dict[Kind, Any] = {
    Kind.U8: c.Int8ub,
    Kind.U16: c.Int16ub,
    Kind.U32: c.Int32ub,
    Kind.U64: c.Int64ub,
    Kind.I64: c.Int64sb,
    Kind.F64: c.Float64b,
    Kind.BOOL: c.Flag,
    Kind.SHA256: c.Bytes(32),
    Kind.OPT_U64: c.Struct("present" / c.Flag, "value" / c.Int64ub),
    Kind.OPT_I64: c.Struct("present" / c.Flag, "value" / c.Int64sb),
    Kind.STR: _STR,
    Kind.BYTES: c.Prefixed(c.Int32ub, c.GreedyBytes),
    Kind.REST: c.GreedyBytes,
    Kind.STR_LIST: c.PrefixedArray(c.Int32ub, _STR),
    Kind.STR_PAIRS: c.PrefixedArray(c.Int32ub, c.Sequence(_STR, _STR)),
    Kind.U32_LIST: c.PrefixedArray(c.Int32ub, c.Int32ub),
}


def schema_for(cls: type[Message]) -> Any:
    """The construct ``Struct`` for a payload class."""
    return c.Struct(*[field.name / _construct_for(field) for field in wire_fields(cls)])


def _construct_for(field: WireField) -> Any:
    if field.kind is Kind.LIST:
        assert field.item is not None
        return c.PrefixedArray(c.Int32ub, schema_for(field.item))
    return _SIMPLE[field.kind]


def to_construct(message: Message) -> dict[str, Any]:
    """A message's values in the shape construct builds from."""
    values: dict[str, Any] = {}
    for field in wire_fields(type(message)):
        value = getattr(message, field.name)
        if field.kind in (Kind.OPT_U64, Kind.OPT_I64):
            value = {"present": value is not None, "value": value or 0}
        elif field.kind is Kind.LIST:
            value = [to_construct(item) for item in value]
        elif field.kind is Kind.STR_PAIRS:
            value = [list(pair) for pair in value]
        elif field.kind in (Kind.U8, Kind.U16):
            value = int(value)
        values[field.name] = value
    return values


def from_construct(cls: type[Message], parsed: Any) -> Message:
    """Build a message from what construct parsed."""
    values: dict[str, Any] = {}
    for field in wire_fields(cls):
        value = parsed[field.name]
        if field.kind in (Kind.OPT_U64, Kind.OPT_I64):
            value = value["value"] if value["present"] else None
        elif field.kind is Kind.LIST:
            assert field.item is not None
            value = tuple(from_construct(field.item, item) for item in value)
        elif field.kind is Kind.STR_PAIRS:
            value = tuple((key, text) for key, text in value)
        elif field.kind in (Kind.STR_LIST, Kind.U32_LIST):
            value = tuple(value)
        values[field.name] = value
    return cls(**values)
