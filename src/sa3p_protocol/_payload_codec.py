"""Payloads declared once: each field's annotation names its wire kind.

A message class annotates its fields with the aliases below (``path: Str``, ``offset: U64``,
``length: OptU64 = None``, ``nodes: Records[TreeEntry]``). ``@message(Opcode.X)`` makes it a
frozen, slotted dataclass, compiles its layout and registers it under its opcode; ``@record()``
does the same for values carried inside lists. Everything else comes from that declaration: the
runtime codec (adjacent fixed-size fields packed by one precompiled ``struct.Struct``), the
constructors' checks (integer ranges, digest sizes, wire codes, tuples; decoding does not repeat
the ones its own readers guarantee), the opcode registry and, in the tests, a ``construct``
schema used as an independent oracle (tests/protocol/oracle.py).

Integers are big-endian; strings are UTF-8 (``surrogateescape``, so any POSIX path survives)
behind a u32 byte length.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from collections.abc import Callable
from itertools import groupby
from operator import attrgetter, methodcaller
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
            value = getattr(self, name)
            checked = check(value)
            if checked is not value:  # converted (a tuple, a wire code): store what was checked
                object.__setattr__(self, name, checked)


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


# ---- encoding and reading one value ----------------------------------------------------------

_U32 = struct.Struct(">I")
Encoder = Callable[[Any], bytes]
Reader = Callable[[bytes, int, list[Any]], int]
"""Reads one value at ``position``, appends it to the list, returns the position after it.
``struct.error`` or ``_Truncated`` when the bytes end first."""


class _Truncated(Exception):
    pass


def _encode_str(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogateescape")
    return _U32.pack(len(raw)) + raw


def _encode_bytes(value: bytes) -> bytes:
    return _U32.pack(len(value)) + value


def _sized_reader(convert: Callable[[bytes], Any]) -> Reader:
    """A u32 byte length, then the bytes, given to ``convert``."""

    def read(data: bytes, position: int, out: list[Any]) -> int:
        (size,) = _U32.unpack_from(data, position)
        start = position + 4
        end: int = start + size
        if end > len(data):
            raise _Truncated
        out.append(convert(data[start:end]))
        return end

    return read


_read_bytes = _sized_reader(bytes)  # bytes(raw) is raw itself
_read_str = _sized_reader(methodcaller("decode", "utf-8", "surrogateescape"))


def _read_rest(data: bytes, position: int, out: list[Any]) -> int:
    out.append(data[position:])
    return len(data)


def _fixed_reader(packer: struct.Struct) -> Reader:
    unpack, size = packer.unpack_from, packer.size

    def read(data: bytes, position: int, out: list[Any]) -> int:
        out += unpack(data, position)
        return position + size

    return read


def _optional_codec(packer: struct.Struct) -> tuple[Encoder, Reader]:
    """A presence byte, then the value (0 when absent)."""
    unpack, size = packer.unpack_from, packer.size

    def encode(value: int | None) -> bytes:
        return packer.pack(value is not None, value or 0)

    def read(data: bytes, position: int, out: list[Any]) -> int:
        present, value = unpack(data, position)
        out.append(value if present else None)
        return position + size

    return encode, read


def _list_codec(encode_item: Encoder, read_item: Reader) -> tuple[Encoder, Reader]:
    """A u32 count, then that many items."""

    def encode(items: tuple[Any, ...]) -> bytes:
        return _U32.pack(len(items)) + b"".join(map(encode_item, items))

    def read(data: bytes, position: int, out: list[Any]) -> int:
        (count,) = _U32.unpack_from(data, position)
        position += 4
        # Every item takes at least one byte, so a count above the bytes left is a lie: the
        # work any payload can cause stays bounded by its length.
        if count > len(data) - position:
            raise _Truncated
        items: list[Any] = []
        for _ in range(count):
            position = read_item(data, position, items)
        out.append(tuple(items))
        return position

    return encode, read


def _encode_pair(pair: tuple[str, str]) -> bytes:
    return _encode_str(pair[0]) + _encode_str(pair[1])


def _read_pair(data: bytes, position: int, out: list[Any]) -> int:
    pair: list[str] = []
    position = _read_str(data, _read_str(data, position, pair), pair)
    out.append(tuple(pair))
    return position


def _as_is(value: bytes) -> bytes:
    return value


_VALUE_CODECS: dict[Kind, tuple[Encoder, Reader]] = {
    Kind.OPT_U64: _optional_codec(struct.Struct(">?Q")),
    Kind.OPT_I64: _optional_codec(struct.Struct(">?q")),
    Kind.STR: (_encode_str, _read_str),
    Kind.BYTES: (_encode_bytes, _read_bytes),
    Kind.REST: (_as_is, _read_rest),
    Kind.STR_LIST: _list_codec(_encode_str, _read_str),
    Kind.STR_PAIRS: _list_codec(_encode_pair, _read_pair),
    Kind.U32_LIST: _list_codec(_U32.pack, _fixed_reader(_U32)),
}


# ---- a class's layout -------------------------------------------------------------------------


def _fixed_run(fields: list[WireField]) -> tuple[Encoder, Callable[[Any], Any], Reader]:
    """Adjacent fixed-size fields, written and read by one precompiled ``struct.Struct``."""
    packer = struct.Struct(">" + "".join(field.kind.value for field in fields))
    get = attrgetter(*(field.name for field in fields))  # one name: the value; more: a tuple

    def encode(values: tuple[Any, ...]) -> bytes:
        return packer.pack(*values)

    return (packer.pack if len(fields) == 1 else encode), get, _fixed_reader(packer)


def _variable(field: WireField) -> tuple[Encoder, Callable[[Any], Any], Reader]:
    if field.item is None:
        encode, read = _VALUE_CODECS[field.kind]
    else:
        item = field.item._LAYOUT
        encode, read = _list_codec(item.encode, item.read)
    return encode, attrgetter(field.name), read


class _Layout:
    """A declared class's fields, the checks its constructor runs, and its compiled codec.

    Decoding trusts the codec: the readers produce values of exactly the declared kinds
    (integers of the field's width, tuples, 32-byte digests), so a decoded value is built
    without the constructor's checks, except the ones a payload can still fail: ``Code``
    fields converted to ``WireErrorCode``, and a class's own ``__post_init__`` invariants
    (such classes are built by their constructor).
    """

    def __init__(self, cls: type[Message]) -> None:
        hints = get_type_hints(cls, include_extras=True)
        self.cls = cls
        self.construct: Callable[..., Message] = cls
        self.fields: list[WireField] = []
        self.checks: list[tuple[str, Callable[[Any], Any]]] = []
        self.conversions: list[tuple[int, Callable[[Any], Any]]] = []
        for index, declared in enumerate(dataclasses.fields(cls)):  # type: ignore[arg-type]
            base, kind = get_args(hints[declared.name])
            field = WireField(declared.name, kind, get_args(base)[0] if kind is Kind.LIST else None)
            self.fields.append(field)
            check = _check_for(field, base)
            if check is not None:
                self.checks.append((field.name, check))
            if check is base:  # a wire code: a payload may carry one that does not exist
                self.conversions.append((index, check))
        if Kind.REST in [field.kind for field in self.fields[:-1]]:
            raise TypeError(f"{cls.__name__}: a REST field must be the last")
        self.names = [field.name for field in self.fields]
        self.bulk = [field.kind for field in self.fields] == [Kind.REST]
        self.encoders: list[tuple[Encoder, Callable[[Any], Any]]] = []
        self.readers: list[Reader] = []
        for fixed, group in groupby(self.fields, key=lambda field: field.kind in _FIXED_SIZE):
            fields = list(group)
            for encode, get, read in [_fixed_run(fields)] if fixed else map(_variable, fields):
                self.encoders.append((encode, get))
                self.readers.append(read)
        self.invariants = cls.__post_init__ is not Message.__post_init__
        # The slots' own setters: what a frozen dataclass's __init__ reaches through
        # object.__setattr__, without looking the name up each time.
        self.setters = list(enumerate(getattr(cls, name).__set__ for name in self.names))
        self.encode: Callable[[Message], bytes] = self._encode_fields
        """The payload bytes of a message."""
        self.decode: Callable[[bytes], Message] = self._decode_fields
        """The message a payload holds (its errors are listed below)."""
        if self.bulk:
            self.encode, self.decode = self._encode_bulk, self._decode_bulk
        elif not self.fields:
            self.empty = _new_object(cls)  # the one value of a class without fields (END, OK)
            self.decode = self._decode_empty

    def _encode_fields(self, message: Message) -> bytes:
        return b"".join([encode(get(message)) for encode, get in self.encoders])

    def read(self, data: bytes, position: int, out: list[Any]) -> int:
        """Read one value at ``position`` into ``out``; return the position after it."""
        values: list[Any] = []
        for read in self.readers:
            position = read(data, position, values)
        out.append(self.build(values))
        return position

    def build(self, values: list[Any]) -> Message:
        """The value whose fields, in order, are the decoded ``values``.

        Raises:
            ValueError: an unknown wire code, or a class invariant the values break.
        """
        if self.invariants:
            return self.construct(**dict(zip(self.names, values, strict=True)))
        for index, convert in self.conversions:
            values[index] = convert(values[index])
        message = _new_object(self.cls)
        for index, set_field in self.setters:  # no zip(): building one costs as much as a field
            set_field(message, values[index])
        return message

    # A payload's decoder, chosen once per class. Each raises ``struct.error`` or
    # ``_Truncated`` for a payload that ends early, ``ValueError`` for one the class refuses
    # or with bytes after the last field.

    def _decode_fields(self, payload: bytes) -> Message:
        values: list[Any] = []
        position = 0
        for read in self.readers:
            position = read(payload, position, values)
        message = self.build(values)
        if position != len(payload):
            raise ValueError(f"{len(payload) - position} bytes after the last field")
        return message

    def _decode_empty(self, payload: bytes) -> Message:
        if payload:
            raise ValueError(f"{len(payload)} bytes after the last field")
        return self.empty

    def _decode_bulk(self, payload: bytes) -> Message:
        return self.build([payload])  # bulk data: no layout work

    def _encode_bulk(self, message: Message) -> bytes:
        return b"".join((self.encoders[0][1](message),))  # bytes as they are; others refused


_new_object = object.__new__


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
    return message._LAYOUT.encode(message)


def decode_message(opcode: Opcode, payload: bytes) -> Message:
    """Decode a frame's payload into its typed value.

    Raises:
        MalformedPayload: the payload does not match the opcode's layout (short, bytes after
            the last field, a count larger than the bytes left, a value the class refuses).
    """
    try:
        return MESSAGE_TYPES[opcode]._LAYOUT.decode(payload)
    except (_Truncated, struct.error):
        raise MalformedPayload(opcode=opcode, reason="payload shorter than its layout") from None
    except (ValueError, TypeError) as error:
        raise MalformedPayload(opcode=opcode, reason=str(error)) from None


def message_frame(stream_id: int, message: Message) -> Frame:
    """A frame carrying ``message`` on ``stream_id``."""
    if message.OPCODE is None:
        raise TypeError(f"{type(message).__name__} is a record, not a frame payload")
    return Frame(stream_id, message.OPCODE, encode_message(message))
