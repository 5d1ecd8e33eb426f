"""One command between its start tag and its end tag, and running it when it closes.

A ``write_file`` body goes to the filesystem's writer chunk by chunk as it arrives (never held
whole); a ``terminal`` body and an ``apply_edit`` body are collected up to their limits. The
first problem seen (a bad attribute, an out-of-order instruction, a failed write) is kept and
the command fails with it when it closes; nothing of it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from sa3p_engine._attributes import AttributeProblem, required_path
from sa3p_engine._backend import (
    BackendError,
    FileWriter,
    TerminalProvider,
    VirtualFileSystem,
)
from sa3p_engine._edit_formats import BodyPart
from sa3p_engine._limits import Limits
from sa3p_engine._listing import run_list_files
from sa3p_engine._outputs import CommandOutput, WriteFileOutput
from sa3p_engine._terminal import run_signal, run_terminal
from sa3p_parser import Instruction, RawChunk, StartTag, Text, WriteChunk

__all__ = ["COMMANDS", "PARTS", "OpenCommand", "run_command"]

COMMANDS = frozenset(
    {"write_file", "read_file", "list_files", "terminal", "terminal_signal", "apply_edit"}
)
"""The command tags the engine runs."""

PARTS = frozenset({"search", "replace"})
"""Tags that may appear only inside ``apply_edit``."""


class OpenCommand:
    """The instructions of one command so far (mutable, owned by the engine)."""

    __slots__ = (
        "attributes",
        "body",
        "error",
        "limits",
        "name",
        "part_data",
        "part_kind",
        "parts",
        "started",
        "writer",
    )

    def __init__(self, name: str, attributes: Mapping[str, str], limits: Limits, now: float):
        self.name = name
        self.attributes = attributes
        self.limits = limits
        self.started = now
        self.writer: FileWriter | None = None
        self.error: str | None = None
        self.body = bytearray()
        self.parts: list[BodyPart] = []
        self.part_kind: str | None = None
        self.part_data = bytearray()

    @classmethod
    def start(
        cls, tag: StartTag, vfs: VirtualFileSystem, limits: Limits, now: float
    ) -> OpenCommand:
        command = cls(tag.name, tag.attributes, limits, now)
        if tag.name == "write_file":
            command._open_writer(vfs)
        return command

    @property
    def subject(self) -> str:
        return self.attributes.get("path", self.attributes.get("pid", "")).strip()

    def _open_writer(self, vfs: VirtualFileSystem) -> None:
        path = required_path("write_file", self.attributes)
        if isinstance(path, AttributeProblem):
            self.note_error(path.message)
            return
        try:
            self.writer = vfs.open_writer(path)
        except Exception as error:
            self.note_error(_describe(error))

    def note_error(self, message: str) -> None:
        """Keep the first problem; the command will fail with it."""
        if self.error is None:
            self.error = message
        self.discard()

    def add(self, instruction: Instruction) -> None:
        """Take a piece of the body (chunk boundaries carry no meaning)."""
        if self.error is not None:
            return
        match instruction:
            case WriteChunk(data=data) if self.name == "write_file":
                self._write(data)
            case Text(text=text) if self.name == "write_file":
                self._write(text.encode("utf-8"))
            case RawChunk(tag="terminal", data=data) if self.name == "terminal":
                self._collect(self.body, data, self.limits.max_command_bytes)
            case Text(text=text) if self.name == "terminal":
                self._collect(self.body, text.encode("utf-8"), self.limits.max_command_bytes)
            case RawChunk(tag=tag, data=data) if self.name == "apply_edit" and tag in PARTS:
                if self.part_kind != tag:
                    self.start_part(tag)
                self._collect(self.part_data, data, self.limits.edit_max_bytes)
            case Text(text=text) if self.name == "apply_edit":
                self._add_edit_text(text)
            case Text():
                pass  # prose inside a command without a body (e.g. <read_file …>note</read_file>)
            case _:
                kind = type(instruction).__name__
                self.note_error(f"{kind} inside <{self.name}> (out-of-order instruction)")

    def start_part(self, kind: str) -> None:
        self.end_part()
        self.part_kind = kind

    def end_part(self) -> None:
        if self.part_kind is None:
            return
        kind, self.part_kind = self.part_kind, None
        data, self.part_data = bytes(self.part_data), bytearray()
        try:
            self.parts.append(BodyPart(kind, data.decode("utf-8")))
        except UnicodeDecodeError as error:
            self.note_error(f"<{kind}> is not valid UTF-8 (byte {error.start} of its body)")

    def discard(self) -> None:
        """Abort an open write; nothing of it becomes visible."""
        writer, self.writer = self.writer, None
        if writer is not None:
            with contextlib.suppress(Exception):  # best effort: the failure is already reported
                writer.abort()

    def failed(self, message: str) -> CommandOutput:
        return CommandOutput(command=self.name, ok=False, error=message, subject=self.subject)

    def _write(self, data: bytes) -> None:
        if self.writer is None:
            return
        try:
            self.writer.write(data)
        except Exception as error:
            self.note_error(_describe(error))

    def _add_edit_text(self, text: str) -> None:
        if self.part_kind is not None:
            self._collect(self.part_data, text.encode("utf-8"), self.limits.edit_max_bytes)
        else:
            self.parts.append(BodyPart("text", text))

    def _collect(self, into: bytearray, data: bytes, limit: int) -> None:
        if len(into) + len(data) > limit:
            self.note_error(f"the body of <{self.name}> is longer than {limit} bytes")
            return
        into += data


def _describe(error: Exception) -> str:
    if isinstance(error, BackendError):
        return f"{error.message} ({error.code.value})"
    return f"backend failure: {type(error).__name__}: {error}"


def run_command(
    command: OpenCommand, vfs: VirtualFileSystem, terminal: TerminalProvider, limits: Limits
) -> CommandOutput:
    """Run a closed command. Backend errors propagate; the engine reports them."""
    command.end_part()
    if command.error is not None:
        return command.failed(command.error)
    attributes = command.attributes
    match command.name:
        case "write_file":
            return _commit(command)
        case "read_file":
            # Imported when first needed (here and below): start-up time of `sa3p run`.
            from sa3p_engine._read import run_read_file  # noqa: PLC0415

            return run_read_file(vfs, attributes, limits)
        case "list_files":
            return run_list_files(vfs, attributes, limits)
        case "terminal":
            return run_terminal(terminal, attributes, bytes(command.body), limits)
        case "terminal_signal":
            return run_signal(terminal, attributes)
        case _:
            from sa3p_engine._apply_edit import run_apply_edit  # noqa: PLC0415

            return run_apply_edit(vfs, attributes, command.parts, limits)


def _commit(command: OpenCommand) -> CommandOutput:
    writer, command.writer = command.writer, None
    if writer is None:
        return command.failed("the write was not opened")
    try:
        receipt = writer.commit()
    except Exception:
        writer.abort()
        raise
    return WriteFileOutput(
        command="write_file",
        ok=True,
        subject=receipt.path,
        path=receipt.path,
        bytes_written=receipt.bytes_written,
        sha256=receipt.sha256,
        created=receipt.created,
    )
