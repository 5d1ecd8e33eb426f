"""Payload layouts, declared once as data and compiled to precompiled ``struct.Struct`` runs.

Each payload class lists its fields (name and ``Kind``). That one declaration drives the fast
runtime codec here and, in the tests, a ``construct`` schema used as an independent oracle
(tests/protocol/oracle.py). Integers are big-endian; strings are UTF-8 (``surrogateescape``, so
any POSIX path round-trips) behind a u32 byte length.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sa3p_protocol._errors import MalformedPayload
from sa3p_protocol._frames import Opcode


class Kind(enum.Enum):
    """How one field is laid out. Fixed-size kinds carry their ``struct`` format."""

    U8 = "B"
    U16 = "H"
    U32 = "I"
    U64 = "Q"
    I64 = "q"
    F64 = "d"
    BOOL = "?"
    SHA256 = "32s"
    """32 raw bytes (a SHA-256 digest)."""
    OPT_U64 = "?Q"
    """A presence flag then a u64; absent decodes as None."""
    OPT_I64 = "?q"
    STR = "str"
    """u32 byte length + UTF-8."""
    BYTES = "bytes"
    """u32 byte length + raw bytes."""
    REST = "rest"
    """Every remaining byte (only as the last field): bulk data needs no length prefix."""
    STR_LIST = "str_list"
    """u32 count + that many STR."""
    STR_PAIRS = "str_pairs"
    """u32 count + that many (STR, STR)."""
    U32_LIST = "u32_list"
    """u32 count + that many u32."""
    LIST = "list"
    """u32 count + that many records of ``Field.item``'s layout."""

    @property
    def fixed(self) -> bool:
        return self.value[0] in "?BHIQqd3"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a payload layout."""

    name: str
    kind: Kind
    item: type[Message] | None = None

    def __post_init__(self) -> None:
        if (self.kind is Kind.LIST) != (self.item is not None):
            raise ValueError(f"field {self.name}: an item type goes with Kind.LIST only")


class Message:
    """Base of every payload value: a frozen dataclass with a layout.

    Subclasses set ``FIELDS`` (the layout, in the dataclass's field order) and, for payloads
    that travel as a whole frame, ``OPCODE``.
    """

    __slots__ = ()
    OPCODE: ClassVar[Opcode | None] = None
    FIELDS: ClassVar[tuple[Field, ...]] = ()


_U32 = struct.Struct(">I")
_U32_PAIR = struct.Struct(">II")
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"


class _Truncated(Exception):
    pass


def _encode_str(value: str) -> bytes:
    raw = value.encode(_ENCODING, _ERRORS)
    return _U32.pack(len(raw)) + raw


def _take(data: bytes, position: int, size: int) -> tuple[bytes, int]:
    stop = position + size
    if stop > len(data):
        raise _Truncated
    return data[position:stop], stop


def _read_u32(data: bytes, position: int) -> tuple[int, int]:
    if position + 4 > len(data):
        raise _Truncated
    return _U32.unpack_from(data, position)[0], position + 4


def _read_bytes(data: bytes, position: int) -> tuple[bytes, int]:
    size, position = _read_u32(data, position)
    return _take(data, position, size)


def _read_str(data: bytes, position: int) -> tuple[str, int]:
    raw, position = _read_bytes(data, position)
    return raw.decode(_ENCODING, _ERRORS), position


def _read_count(data: bytes, position: int) -> tuple[int, int]:
    # Every list item takes at least one byte, so a count above the bytes left is a lie; this
    # bounds the work any payload can cause to its length.
    count, position = _read_u32(data, position)
    if count > len(data) - position:
        raise _Truncated
    return count, position


Encoder = Callable[[list[bytes], Sequence[Any]], None]
Decoder = Callable[[bytes, int, list[Any]], int]


class _FixedRun:
    """Adjacent fixed-size fields packed by one precompiled ``struct.Struct``."""

    def __init__(self, indexes: list[int], kinds: list[Kind]) -> None:
        self.indexes = indexes
        self.kinds = kinds
        self.struct = struct.Struct(">" + "".join(kind.value for kind in kinds))
        self.optional = any(kind in (Kind.OPT_U64, Kind.OPT_I64) for kind in kinds)

    def encode(self, parts: list[bytes], values: Sequence[Any]) -> None:
        flat: list[Any] = []
        for index, kind in zip(self.indexes, self.kinds, strict=True):
            value = values[index]
            if kind in (Kind.OPT_U64, Kind.OPT_I64):
                flat.extend((False, 0) if value is None else (True, value))
            else:
                flat.append(value)
        parts.append(self.struct.pack(*flat))

    def decode(self, data: bytes, position: int, out: list[Any]) -> int:
        if position + self.struct.size > len(data):
            raise _Truncated
        raw = self.struct.unpack_from(data, position)
        if not self.optional:
            out.extend(raw)
        else:
            cursor = 0
            for kind in self.kinds:
                if kind in (Kind.OPT_U64, Kind.OPT_I64):
                    out.append(raw[cursor + 1] if raw[cursor] else None)
                    cursor += 2
                else:
                    out.append(raw[cursor])
                    cursor += 1
        return position + self.struct.size


class Layout:
    """A compiled layout: encode a message's values to bytes and back."""

    def __init__(self, cls: type[Message]) -> None:
        names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
        declared = [field.name for field in cls.FIELDS]
        if names != declared:
            raise TypeError(f"{cls.__name__}: FIELDS {declared} differ from dataclass {names}")
        if any(field.kind is Kind.REST for field in cls.FIELDS[:-1]):
            raise TypeError(f"{cls.__name__}: Kind.REST must be the last field")
        self.cls = cls
        self.names = declared
        self.steps: list[_FixedRun | tuple[int, Field]] = []
        run_indexes: list[int] = []
        run_kinds: list[Kind] = []
        for index, field in enumerate(cls.FIELDS):
            if field.kind.fixed:
                run_indexes.append(index)
                run_kinds.append(field.kind)
                continue
            if run_indexes:
                self.steps.append(_FixedRun(run_indexes, run_kinds))
                run_indexes, run_kinds = [], []
            self.steps.append((index, field))
        if run_indexes:
            self.steps.append(_FixedRun(run_indexes, run_kinds))

    def encode(self, message: Message) -> bytes:
        parts: list[bytes] = []
        self.encode_into(parts, message)
        return b"".join(parts)

    def encode_into(self, parts: list[bytes], message: Message) -> None:
        values = [getattr(message, field.name) for field in self.cls.FIELDS]
        for step in self.steps:
            if isinstance(step, _FixedRun):
                step.encode(parts, values)
            else:
                _encode_variable(parts, step[1], values[step[0]])

    def decode(self, data: bytes, position: int = 0, *, whole: bool = True) -> tuple[Any, int]:
        values: list[Any] = []
        for step in self.steps:
            if isinstance(step, _FixedRun):
                position = step.decode(data, position, values)
            else:
                value, position = _decode_variable(data, position, step[1])
                values.append(value)
        if whole and position != len(data):
            raise _Trailing(len(data) - position)
        return self.cls(**dict(zip(self.names, values, strict=True))), position


class _Trailing(Exception):
    def __init__(self, extra: int) -> None:
        super().__init__(extra)
        self.extra = extra


def _encode_variable(parts: list[bytes], field: Field, value: Any) -> None:
    match field.kind:
        case Kind.STR:
            parts.append(_encode_str(value))
        case Kind.BYTES:
            parts.append(_U32.pack(len(value)))
            parts.append(value)
        case Kind.REST:
            parts.append(value)
        case Kind.STR_LIST:
            parts.append(_U32.pack(len(value)))
            parts.extend(_encode_str(item) for item in value)
        case Kind.STR_PAIRS:
            parts.append(_U32.pack(len(value)))
            for key, item in value:
                parts.append(_encode_str(key))
                parts.append(_encode_str(item))
        case Kind.U32_LIST:
            parts.append(_U32.pack(len(value)))
            parts.append(struct.pack(f">{len(value)}I", *value))
        case Kind.LIST:
            assert field.item is not None
            parts.append(_U32.pack(len(value)))
            layout = layout_of(field.item)
            for item in value:
                layout.encode_into(parts, item)
        case _:  # pragma: no cover - fixed kinds never reach here
            raise AssertionError(field.kind)


def _decode_variable(data: bytes, position: int, field: Field) -> tuple[Any, int]:
    match field.kind:
        case Kind.STR:
            return _read_str(data, position)
        case Kind.BYTES:
            return _read_bytes(data, position)
        case Kind.REST:
            return data[position:], len(data)
        case Kind.STR_LIST:
            count, position = _read_count(data, position)
            strings = []
            for _ in range(count):
                text, position = _read_str(data, position)
                strings.append(text)
            return tuple(strings), position
        case Kind.STR_PAIRS:
            count, position = _read_count(data, position)
            pairs = []
            for _ in range(count):
                key, position = _read_str(data, position)
                text, position = _read_str(data, position)
                pairs.append((key, text))
            return tuple(pairs), position
        case Kind.U32_LIST:
            count, position = _read_count(data, position)
            raw, position = _take(data, position, 4 * count)
            return struct.unpack(f">{count}I", raw), position
        case _:
            assert field.item is not None
            count, position = _read_count(data, position)
            layout = layout_of(field.item)
            items = []
            for _ in range(count):
                item, position = layout.decode(data, position, whole=False)
                items.append(item)
            return tuple(items), position


_LAYOUTS: dict[type[Message], Layout] = {}


def layout_of(cls: type[Message]) -> Layout:
    """The compiled layout of a payload class (compiled once, then cached)."""
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = Layout(cls)
    return layout


def decode_with(cls: type[Message], opcode: int, payload: bytes) -> Any:
    """Decode ``payload`` as ``cls``; any mismatch is a ``MalformedPayload``."""
    try:
        return layout_of(cls).decode(payload)[0]
    except _Truncated:
        raise MalformedPayload(opcode=opcode, reason="payload shorter than its layout") from None
    except _Trailing as extra:
        reason = f"{extra.extra} bytes after the last field"
        raise MalformedPayload(opcode=opcode, reason=reason) from None
    except (ValueError, TypeError) as error:
        raise MalformedPayload(opcode=opcode, reason=str(error)) from None
