"""How ``sa3p run`` prints results: the model-visible text, or one JSON object per line.

The JSON lines are a contract (docs/COMMANDS.md, "JSON lines"; ``sa3p schema`` prints their JSON
Schema, ``_json_schema``): every line is an object with ``"v": 1`` and a ``"type"``:

- ``result``: one command. ``status`` is ``ok``, ``failed``, ``denied`` or ``quoted`` (a command
  inside markdown code: shown, not run); ``code`` (an ``OutputCode``) and ``error`` when it is
  not ok; ``subject`` whole (a command line is never cut); the command's own fields; the
  ``rendered`` text the model sees. ``ok`` repeats ``status == "ok"`` for the simple check.
- ``notice``: a problem in the stream that belongs to no command (``line``, ``column`` where
  it is, null when it has no place: the output budget's notice).
- ``output``: a piece of a running command's output (``text``; live, for people).
- ``state``: the state header, last.

Each line is flushed at once so a reader sees results as they happen.
"""

from __future__ import annotations

import codecs
import dataclasses
import enum
import json
from typing import Any, BinaryIO

from sa3p_engine import (
    CommandOutput,
    DeniedOutput,
    LiveOutput,
    NoticeOutput,
    OutputCode,
    ProblemOutput,
    StateHeader,
)

__all__ = ["JSON_VERSION", "Printer", "json_line", "to_json_value"]

JSON_VERSION = 1
"""The ``v`` of every JSON line: raised only when a line changes incompatibly."""

_SHARED = frozenset(("command", "ok", "error", "subject", "position", "code"))
"""``CommandOutput``'s own fields: a JSON line states them its way; the rest are copied."""


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


def json_line(output: CommandOutput) -> dict[str, Any]:
    """The JSON line of one output: a ``notice`` or a ``result`` (see the module docstring)."""
    position = output.position
    where = {
        "line": None if position is None else position.line,
        "column": None if position is None else position.column,
    }
    if isinstance(output, ProblemOutput) or (
        isinstance(output, NoticeOutput) and output.code is not OutputCode.QUOTED
    ):
        return {
            "v": JSON_VERSION,
            "type": "notice",
            "command": output.command,
            "code": _code(output),
            "error": output.error,
            **where,
            "rendered": output.render(),
        }
    line: dict[str, Any] = {
        "v": JSON_VERSION,
        "type": "result",
        "command": output.command,
        "status": _status(output),
        "ok": output.ok,
        "subject": output.subject,
    }
    if not output.ok:
        line |= {"code": _code(output), "error": output.error, **where}
    for field in dataclasses.fields(output):
        if field.name not in _SHARED:
            line[field.name] = to_json_value(getattr(output, field.name))
    line["rendered"] = output.render()
    return line


def _status(output: CommandOutput) -> str:
    if output.ok:
        return "ok"
    if isinstance(output, DeniedOutput):
        return "denied"
    return "quoted" if output.code is OutputCode.QUOTED else "failed"


def _code(output: CommandOutput) -> str:
    return (output.code or OutputCode.COMMAND_FAILED).value


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
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def output(self, output: CommandOutput) -> None:
        """Print one command's result."""
        if self._json:
            self._line(json.dumps(json_line(output), ensure_ascii=False))
        else:
            self._line(("\n" if self._count else "") + output.render().rstrip("\n"))
        self._count += 1

    def live(self, piece: LiveOutput) -> None:
        """Print a piece of a running command's output as an ``output`` line (JSON only; text
        goes to people through ``LiveView``). A character split between pieces is printed
        whole with the later piece."""
        if not self._json:
            return
        if not piece.data:  # a command starts: nothing left over from the last one
            self._decoder.reset()
            return
        text = self._decoder.decode(piece.data)
        if text:
            line = {"v": JSON_VERSION, "type": "output", "subject": piece.subject, "text": text}
            self._line(json.dumps(line, ensure_ascii=False))

    def state_header(self, header: StateHeader) -> None:
        """Print the state header (last)."""
        if self._json:
            line = {"v": JSON_VERSION, "type": "state", **_as_object(header)}
            line["rendered"] = header.render()
            self._line(json.dumps(line, ensure_ascii=False))
        else:
            self._line(("\n" if self._count else "") + header.render())

    def _line(self, text: str) -> None:
        self._out.write(text.encode("utf-8", "backslashreplace") + b"\n")
        self._out.flush()


def _as_object(value: object) -> dict[str, Any]:
    data = to_json_value(value)
    assert isinstance(data, dict)
    return data
