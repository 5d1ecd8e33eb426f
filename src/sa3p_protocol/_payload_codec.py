"""Payloads declared once: each field's annotation names its wire kind.

A message class annotates its fields with the aliases below (``path: Str``, ``offset: U64``,
``length: OptU64 = None``, ``nodes: Records[TreeEntry]``). ``@message(Opcode.X)`` makes it a
frozen, slotted dataclass, compiles its layout and registers it under its opcode; ``@record()``
does the same for values carried inside lists. Everything else comes from that declaration: the
runtime codec (adjacent fixed-size fields packed by one precompiled ``struct.Struct``), the
constructors' checks (integer ranges, digest sizes, wire codes, tuples), the opcode registry and,
in the tests, a ``construct`` schema used as an independent oracle (tests/protocol/oracle.py).

Integers are big-endian; strings are UTF-8 (``surrogateescape``, so any POSIX path survives)
behind a u32 byte length.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from collections.abc import Callable
from itertools import groupby
from operator import attrgetter
from typing import Annotated, Any, ClassVar, TypeVar, dataclass_transform, get_args, get_type_hints

from sa3p_protocol._frames import Frame, Opcode
from sa3p_protocol._wire_errors import MalformedPayload, WireErrorCode


class Kind(enum.Enum):
    """How one field is laid out; fixed-size kinds have their ``struct`` format as value."""

    U8 = "B"
    U16 = "H"
    U32 = "I"
    U64 = "Q"
    I64 = "q"
    F64 = "d"
    BOOL = "?"
    SHA256 = "32s"
    """32 raw bytes (a SHA-256 digest)."""
    OPT_U64 = "opt_u64"
    """A presence byte, then a u64 (0 when absent); absent is None."""
    OPT_I64 = "opt_i64"
    STR = "str"
    """u32 byte length + UTF-8."""
    BYTES = "bytes"
    """u32 byte length + raw bytes."""
    REST = "rest"
    """Every remaining byte (last field only): bulk data needs no length prefix."""
    STR_LIST = "str_list"
    """u32 count + that many STR."""
    STR_PAIRS = "str_pairs"
    """u32 count + that many (STR, STR)."""
    U32_LIST = "u32_list"
    """u32 count + that many u32."""
    LIST = "list"
    """u32 count + that many records of the field's item type."""


_FIXED_SIZE = frozenset(
    kind for kind in Kind if kind.value in ("B", "H", "I", "Q", "q", "d", "?", "32s")
)
_R = TypeVar("_R", bound="Message")
U8 = Annotated[int, Kind.U8]
U16 = Annotated[int, Kind.U16]
U32 = Annotated[int, Kind.U32]
U64 = Annotated[int, Kind.U64]
I64 = Annotated[int, Kind.I64]
F64 = Annotated[float, Kind.F64]
Bool = Annotated[bool, Kind.BOOL]
Sha256 = Annotated[bytes, Kind.SHA256]
OptU64 = Annotated[int | None, Kind.OPT_U64]
OptI64 = Annotated[int | None, Kind.OPT_I64]
Str = Annotated[str, Kind.STR]
Bytes = Annotated[bytes, Kind.BYTES]
Rest = Annotated[bytes, Kind.REST]
StrList = Annotated[tuple[str, ...], Kind.STR_LIST]
StrPairs = Annotated[tuple[tuple[str, str], ...], Kind.STR_PAIRS]
U32List = Annotated[tuple[int, ...], Kind.U32_LIST]
Code = Annotated[WireErrorCode, Kind.U16]
Records = Annotated[tuple[_R, ...], Kind.LIST]


class Message:
    """Base of every payload value (declared with ``@message`` or ``@record``).

    ``OPCODE`` is the frame type (None for records, which travel only inside lists).
    """

    __slots__ = ()
    OPCODE: ClassVar[Opcode | None] = None
    _LAYOUT: ClassVar[_Layout]

    def __post_init__(self) -> None:
        for name, check in self._LAYOUT.checks:
            object.__setattr__(self, name, check(getattr(self, name)))


@dataclasses.dataclass(frozen=True, slots=True)
class WireField:
    """One declared field: its name, kind and, for ``LIST``, the record type."""

    name: str
    kind: Kind
    item: type[Message] | None = None


# ---- the checks every constructor runs --------------------------------------------------------

_INTEGER_RANGES = {
    Kind.U8: (0, 0xFF),
    Kind.U16: (0, 0xFFFF),
    Kind.U32: (0, 0xFFFF_FFFF),
    Kind.U64: (0, 2**64 - 1),
    Kind.I64: (-(2**63), 2**63 - 1),
    Kind.OPT_U64: (0, 2**64 - 1),
    Kind.OPT_I64: (-(2**63), 2**63 - 1),
}


def _in_range(name: str, low: int, high: int, optional: bool) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if (value is None and optional) or low <= value <= high:
            return value
        raise ValueError(f"{name} {value} outside {low}..{high}")

    return check


def _digest(value: bytes) -> bytes:
    if len(value) != 32:
        raise ValueError(f"a SHA-256 digest is 32 bytes, not {len(value)}")
    return value


_CHECKS: dict[Kind, Callable[[Any], Any]] = {
    Kind.SHA256: _digest,
    Kind.STR_LIST: tuple,
    Kind.STR_PAIRS: lambda pairs: tuple((str(key), str(value)) for key, value in pairs),
    Kind.U32_LIST: tuple,
    Kind.LIST: tuple,
}


def _check_for(field: WireField, base: Any) -> Callable[[Any], Any] | None:
    if isinstance(base, type) and issubclass(base, enum.IntEnum):
        return base  # a wire code: converts an int, refuses an unknown one
    if field.kind in _INTEGER_RANGES:
        optional = field.kind in (Kind.OPT_U64, Kind.OPT_I64)
        return _in_range(field.name, *_INTEGER_RANGES[field.kind], optional)
    return _CHECKS.get(field.kind)


# ---- writing and reading one value ------------------------------------------------------------

_U32 = struct.Struct(">I")
_OPT_U64 = struct.Struct(">?Q")
_OPT_I64 = struct.Struct(">?q")
Writer = Callable[[list[bytes], Any], None]
ValueReader = Callable[[bytes, int], tuple[Any, int]]


class _Truncated(Exception):
    pass


def _encode_str(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogateescape")
    return _U32.pack(len(raw)) + raw


def _read_fixed(packer: struct.Struct, data: bytes, position: int) -> tuple[Any, ...]:
    if position + packer.size > len(data):
        raise _Truncated
    return packer.unpack_from(data, position)


def _read_bytes(data: bytes, position: int) -> tuple[bytes, int]:
    (size,) = _read_fixed(_U32, data, position)
    start = position + 4
    if start + size > len(data):
        raise _Truncated
    return data[start : start + size], start + size


def _read_str(data: bytes, position: int) -> tuple[str, int]:
    raw, position = _read_bytes(data, position)
    return raw.decode("utf-8", "surrogateescape"), position


def _read_list(read_item: ValueReader) -> ValueReader:
    def read(data: bytes, position: int) -> tuple[tuple[Any, ...], int]:
        (count,) = _read_fixed(_U32, data, position)
        position += 4
        # Every item takes at least one byte, so a count above the bytes left is a lie: the
        # work any payload can cause stays bounded by its length.
        if count > len(data) - position:
            raise _Truncated
        items = []
        for _ in range(count):
            item, position = read_item(data, position)
            items.append(item)
        return tuple(items), position

    return read


def _read_optional(packer: struct.Struct) -> ValueReader:
    def read(data: bytes, position: int) -> tuple[int | None, int]:
        present, value = _read_fixed(packer, data, position)
        return (value if present else None), position + packer.size

    return read


def _write_optional(packer: struct.Struct) -> Writer:
    return lambda parts, value: parts.append(packer.pack(value is not None, value or 0))


def _write_pairs(parts: list[bytes], value: tuple[tuple[str, str], ...]) -> None:
    parts.append(_U32.pack(len(value)))
    for key, text in value:
        parts += (_encode_str(key), _encode_str(text))


def _read_pair(data: bytes, position: int) -> tuple[tuple[str, str], int]:
    key, position = _read_str(data, position)
    text, position = _read_str(data, position)
    return (key, text), position


def _read_u32(data: bytes, position: int) -> tuple[int, int]:
    return _read_fixed(_U32, data, position)[0], position + 4


_VALUE_CODECS: dict[Kind, tuple[Writer, ValueReader]] = {
    Kind.OPT_U64: (_write_optional(_OPT_U64), _read_optional(_OPT_U64)),
    Kind.OPT_I64: (_write_optional(_OPT_I64), _read_optional(_OPT_I64)),
    Kind.STR: (lambda parts, value: parts.append(_encode_str(value)), _read_str),
    Kind.BYTES: (lambda parts, value: parts.extend((_U32.pack(len(value)), value)), _read_bytes),
    Kind.REST: (lambda parts, value: parts.append(value), lambda data, at: (data[at:], len(data))),
    Kind.STR_LIST: (
        lambda parts, value: parts.extend((_U32.pack(len(value)), *map(_encode_str, value))),
        _read_list(_read_str),
    ),
    Kind.STR_PAIRS: (_write_pairs, _read_list(_read_pair)),
    Kind.U32_LIST: (
        lambda parts, value: parts.append(struct.pack(f">I{len(value)}I", len(value), *value)),
        _read_list(_read_u32),
    ),
}


# ---- a class's layout -------------------------------------------------------------------------

Step = tuple[Writer, Callable[[bytes, int, list[Any]], int]]


def _fixed_run(fields: list[WireField]) -> Step:
    """Adjacent fixed-size fields, written and read by one precompiled ``struct.Struct``."""
    names = [field.name for field in fields]
    packer = struct.Struct(">" + "".join(field.kind.value for field in fields))
    get = attrgetter(*names)  # one name: the value; several: a tuple of them
    size = packer.size

    def write(parts: list[bytes], message: Any) -> None:
        parts.append(packer.pack(*get(message)))

    def write_one(parts: list[bytes], message: Any) -> None:
        parts.append(packer.pack(get(message)))

    def read(data: bytes, position: int, out: list[Any]) -> int:
        out += _read_fixed(packer, data, position)
        return position + size

    return (write_one if len(names) == 1 else write), read


def _variable(field: WireField) -> Step:
    if field.item is None:
        write_value, read_value = _VALUE_CODECS[field.kind]
    else:
        write_value, read_value = field.item._LAYOUT.write_list, _read_list(field.item._LAYOUT.read)
    get = attrgetter(field.name)

    def write(parts: list[bytes], message: Any) -> None:
        write_value(parts, get(message))

    def read(data: bytes, position: int, out: list[Any]) -> int:
        value, position = read_value(data, position)
        out.append(value)
        return position

    return write, read


class _Layout:
    """A declared class's fields, the checks its constructor runs, and its compiled steps."""

    def __init__(self, cls: type[Message]) -> None:
        hints = get_type_hints(cls, include_extras=True)
        self.cls: Callable[..., Message] = cls
        self.fields: list[WireField] = []
        self.checks: list[tuple[str, Callable[[Any], Any]]] = []
        for declared in dataclasses.fields(cls):  # type: ignore[arg-type]
            base, kind = get_args(hints[declared.name])
            field = WireField(declared.name, kind, get_args(base)[0] if kind is Kind.LIST else None)
            self.fields.append(field)
            check = _check_for(field, base)
            if check is not None:
                self.checks.append((field.name, check))
        if Kind.REST in [field.kind for field in self.fields[:-1]]:
            raise TypeError(f"{cls.__name__}: a REST field must be the last")
        self.names = [field.name for field in self.fields]
        self.bulk = [field.kind for field in self.fields] == [Kind.REST]
        self.steps: list[Step] = []
        for fixed, group in groupby(self.fields, key=lambda field: field.kind in _FIXED_SIZE):
            fields = list(group)
            self.steps += [_fixed_run(fields)] if fixed else map(_variable, fields)

    def write(self, parts: list[bytes], message: Message) -> None:
        for write, _ in self.steps:
            write(parts, message)

    def write_list(self, parts: list[bytes], records: tuple[Message, ...]) -> None:
        parts.append(_U32.pack(len(records)))
        for record in records:
            self.write(parts, record)

    def read(self, data: bytes, position: int) -> tuple[Message, int]:
        values: list[Any] = []
        for _, read in self.steps:
            position = read(data, position, values)
        return self.cls(**dict(zip(self.names, values, strict=True))), position


# ---- declaring and registering ----------------------------------------------------------------

_M = TypeVar("_M", bound=Message)
MESSAGE_TYPES: dict[Opcode, type[Message]] = {}
"""The registry, filled by ``@message`` as sa3p_protocol.messages declares the classes."""


def _declare(cls: type[_M], opcode: Opcode | None, kw_only: bool) -> type[_M]:
    declared = dataclasses.dataclass(frozen=True, slots=True, kw_only=kw_only)(cls)
    declared.OPCODE = opcode
    declared._LAYOUT = _Layout(declared)
    if opcode is not None:
        if opcode in MESSAGE_TYPES:
            raise TypeError(f"{cls.__name__}: {opcode.name} is {MESSAGE_TYPES[opcode].__name__}'s")
        MESSAGE_TYPES[opcode] = declared
    return declared


@dataclass_transform(frozen_default=True)
def message(opcode: Opcode, *, kw_only: bool = False) -> Callable[[type[_M]], type[_M]]:
    """Declare a frame payload: a frozen dataclass laid out as annotated, registered under
    ``opcode`` (each opcode has exactly one class)."""
    return lambda cls: _declare(cls, opcode, kw_only)


@dataclass_transform(frozen_default=True)
def record(*, kw_only: bool = False) -> Callable[[type[_M]], type[_M]]:
    """Declare a record: laid out as annotated, carried only inside a ``Records[...]`` field."""
    return lambda cls: _declare(cls, None, kw_only)


def wire_fields(cls: type[Message]) -> tuple[WireField, ...]:
    """The layout of a declared class, field by field (the tests' construct oracle reads it)."""
    return tuple(cls._LAYOUT.fields)


# ---- encoding and decoding --------------------------------------------------------------------


def encode_message(message: Message) -> bytes:
    """The payload bytes of ``message``."""
    parts: list[bytes] = []
    message._LAYOUT.write(parts, message)
    return b"".join(parts)


def decode_message(opcode: Opcode, payload: bytes) -> Message:
    """Decode a frame's payload into its typed value.

    Raises:
        MalformedPayload: the payload does not match the opcode's layout (short, bytes after
            the last field, a count larger than the bytes left, a value the class refuses).
    """
    layout = MESSAGE_TYPES[opcode]._LAYOUT
    if layout.bulk:
        return layout.cls(payload)  # bulk data: no layout work
    try:
        message, position = layout.read(payload, 0)
    except _Truncated:
        raise MalformedPayload(opcode=opcode, reason="payload shorter than its layout") from None
    except (ValueError, TypeError) as error:
        raise MalformedPayload(opcode=opcode, reason=str(error)) from None
    if position != len(payload):
        reason = f"{len(payload) - position} bytes after the last field"
        raise MalformedPayload(opcode=opcode, reason=reason)
    return message


def message_frame(stream_id: int, message: Message) -> Frame:
    """A frame carrying ``message`` on ``stream_id``."""
    if message.OPCODE is None:
        raise TypeError(f"{type(message).__name__} is a record, not a frame payload")
    return Frame(stream_id, message.OPCODE, encode_message(message))
