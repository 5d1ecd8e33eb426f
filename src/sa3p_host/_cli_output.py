"""How ``sa3p run`` prints results: the model-visible text, or one JSON object per line.

JSON lines carry every field of the output value (``command``, ``ok``, ``error`` and the
command's own fields) plus ``rendered``, the text the model would see; the last line is
``{"state_header": {...}}``. Each line is flushed at once so a reader sees results as they
happen.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import BinaryIO

from sa3p_engine import CommandOutput, StateHeader

__all__ = ["Printer", "to_json_value"]


def to_json_value(value: object) -> object:
    """A JSON-ready copy of ``value`` (dataclasses as objects, enums as their values)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_json_value(value.value)
    if isinstance(value, (list, tuple)):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class Printer:
    """Writes results to a binary stream, flushing after each.

    Args:
        out: the stream.
        json_lines: JSON lines instead of text.
    """

    def __init__(self, out: BinaryIO, *, json_lines: bool) -> None:
        self._out = out
        self._json = json_lines
        self._count = 0

    def output(self, output: CommandOutput) -> None:
        """Print one command's result."""
        if self._json:
            data = to_json_value(output)
            assert isinstance(data, dict)
            data["rendered"] = output.render()
            self._line(json.dumps(data, ensure_ascii=False))
        else:
            self._line(("\n" if self._count else "") + output.render().rstrip("\n"))
        self._count += 1

    def state_header(self, header: StateHeader) -> None:
        """Print the state header (last)."""
        if self._json:
            self._line(json.dumps({"state_header": to_json_value(header)}, ensure_ascii=False))
        else:
            self._line(("\n" if self._count else "") + header.render())

    def _line(self, text: str) -> None:
        self._out.write(text.encode("utf-8", "backslashreplace") + b"\n")
        self._out.flush()
