"""One command between its start tag and its end tag, and running it when it closes.

A ``write_file`` body goes to the filesystem's writer chunk by chunk as it arrives (never held
whole) — unless the policy asks a person first: then it is held, up to ``edit_max_bytes``, and
written once approved, so nothing at all happens before the answer. A ``terminal``,
``apply_edit`` or ``apply_patch`` body is collected up to its limit (for an edit, all its parts
together); past it, what was collected is dropped at once and the command fails. The first
problem seen (an unknown or bad attribute, an out-of-order instruction, a failed write, a body
too long) is kept and the command fails with it when it closes; nothing of it runs. A denied
command's body is dropped as it arrives. A failure carries the position of the command's tag.
Every method that touches a backend is a ``Routine`` (see ``_effects``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sa3p_engine._attributes import AttributeProblem, required_path, unknown_attributes
from sa3p_engine._backend import BackendError, FileWriter, WriteReceipt
from sa3p_engine._edit_formats import BodyPart
from sa3p_engine._effects import (
    Commit,
    Confirm,
    OpenWriter,
    Routine,
    WriteData,
    discard_write,
    go_ahead,
    write_whole,
)
from sa3p_engine._limits import Limits
from sa3p_engine._output_codes import OutputCode, failure_code
from sa3p_engine._outputs import CommandOutput, DeniedOutput, WriteFileOutput
from sa3p_engine._prompt import accepted_attributes, build_manifest
from sa3p_parser import Instruction, Position, RawChunk, StartTag, Text, WriteChunk

if TYPE_CHECKING:
    from sa3p_engine._edit_tiers import MatchFailure
    from sa3p_engine._patch_format import PatchOperation
    from sa3p_engine._policy_gate import Verdict

__all__ = ["COMMANDS", "PARTS", "OpenCommand", "describe_failure"]

COMMANDS = frozenset(build_manifest().command_names)
"""The command tags the engine runs (those the capability manifest describes)."""

PARTS = frozenset({"search", "replace"})
"""Tags that may appear only inside ``apply_edit``."""


def describe_failure(error: Exception) -> str:
    """A backend's exception as the sentence the model reads."""
    if isinstance(error, BackendError):
        return f"{error.message} ({error.code.value})"
    return f"backend failure: {type(error).__name__}: {error}"


class OpenCommand:
    """The instructions of one command so far (mutable, owned by the engine core)."""

    __slots__ = (
        "_patch",
        "attributes",
        "body",
        "collected",
        "denial",
        "error",
        "error_code",
        "held",
        "limits",
        "name",
        "part_data",
        "part_kind",
        "parts",
        "position",
        "started",
        "verdict",
        "writer",
    )

    def __init__(self, tag: StartTag, limits: Limits, now: float) -> None:
        self.name = tag.name
        self.attributes: Mapping[str, str] = tag.attributes
        self.position: Position | None = tag.position
        self.limits = limits
        self.started = now
        self.writer: FileWriter | None = None
        self.error: str | None = None
        self.error_code = OutputCode.COMMAND_FAILED
        """The code of ``error`` (meaningful once ``error`` is set)."""
        self.body = bytearray()
        self.collected = 0
        """Bytes of body collected so far (an edit's parts together)."""
        self.parts: list[BodyPart] = []
        self.part_kind: str | None = None
        self.part_data = bytearray()
        self.verdict: Verdict | None = None
        self.denial: DeniedOutput | None = None
        self.held = False
        """A ``write_file`` waiting for approval: its body is held, no writer is open."""
        self._patch: tuple[PatchOperation, ...] | MatchFailure | None = None

    @property
    def subject(self) -> str:
        """The path or pid the command concerns; for a ``terminal`` command, its command line
        (whole: rendering cuts it)."""
        named = self.attributes.get("path", self.attributes.get("pid", "")).strip()
        if named or self.name != "terminal":
            return named
        return bytes(self.body).decode("utf-8", "replace").strip()

    def check_attributes(self) -> bool:
        """Check the attributes' names (and a ``write_file``'s path, needed before its body);
        False, with ``error`` set, when the command cannot run."""
        unknown = unknown_attributes(self.name, self.attributes, accepted_attributes(self.name))
        if unknown is not None:
            self.keep_error(unknown.message, unknown.code)
        elif self.name == "write_file":
            path = required_path("write_file", self.attributes)
            if isinstance(path, AttributeProblem):
                self.keep_error(path.message, path.code)
        return self.error is None

    def open_writer(self) -> Routine[None]:
        """Open a ``write_file``'s writer (its body then streams to it)."""
        try:
            self.writer = yield OpenWriter(self.subject)
        except Exception as error:
            self.keep_error(describe_failure(error), failure_code(error))

    def patch(self) -> tuple[PatchOperation, ...] | MatchFailure:
        """An ``apply_patch``'s operations, parsed once (or why they cannot be applied)."""
        if self._patch is None:
            from sa3p_engine._apply_patch import read_patch  # noqa: PLC0415 - start-up time

            self._patch = read_patch(bytes(self.body))
        return self._patch

    def keep_error(self, message: str, code: OutputCode) -> None:
        """Keep the first problem: the command will fail with it."""
        if self.error is None:
            self.error, self.error_code = message, code

    def note_error(self, message: str, code: OutputCode) -> Routine[None]:
        """Keep the first problem (the command will fail with it) and drop any open write."""
        self.keep_error(message, code)
        yield from self.discard()

    def add(self, instruction: Instruction) -> Routine[None]:
        """Take a piece of the body (chunk boundaries carry no meaning)."""
        if self.error is not None or self.denial is not None:
            return
        match instruction:
            case WriteChunk(data=data) if self.name == "write_file":
                yield from self._write(data)
            case Text(text=text) if self.name == "write_file":
                yield from self._write(text.encode("utf-8"))
            case RawChunk(tag="terminal", data=data) if self.name == "terminal":
                self._collect(self.body, data, self.limits.max_command_bytes)
            case Text(text=text) if self.name == "terminal":
                self._collect(self.body, text.encode("utf-8"), self.limits.max_command_bytes)
            case RawChunk(tag="apply_patch", data=data) if self.name == "apply_patch":
                self._collect(self.body, data, self.limits.edit_max_bytes)
            case Text(text=text) if self.name == "apply_patch":
                self._collect(self.body, text.encode("utf-8"), self.limits.edit_max_bytes)
            case RawChunk(tag=tag, data=data) if self.name == "apply_edit" and tag in PARTS:
                if self.part_kind != tag:
                    yield from self.start_part(tag)
                self._collect(self.part_data, data, self.limits.edit_max_bytes)
            case Text(text=text) if self.name == "apply_edit" and self.part_kind is not None:
                self._collect(self.part_data, text.encode("utf-8"), self.limits.edit_max_bytes)
            case Text(text=text) if self.name == "apply_edit":
                if self._fits(len(text.encode("utf-8")), self.limits.edit_max_bytes):
                    self.parts.append(BodyPart("text", text))
            case Text():
                pass  # prose inside a command without a body (e.g. <read_file …>note</read_file>)
            case _:
                kind = type(instruction).__name__
                yield from self.note_error(
                    f"{kind} inside <{self.name}> (out-of-order instruction)",
                    OutputCode.MISPLACED_TAG,
                )

    def start_part(self, kind: str) -> Routine[None]:
        yield from self.end_part()
        self.part_kind = kind

    def end_part(self) -> Routine[None]:
        if self.part_kind is None:
            return
        kind, self.part_kind = self.part_kind, None
        data, self.part_data = bytes(self.part_data), bytearray()
        try:
            self.parts.append(BodyPart(kind, data.decode("utf-8")))
        except UnicodeDecodeError as error:
            yield from self.note_error(
                f"<{kind}> is not valid UTF-8 (byte {error.start} of its body)",
                OutputCode.NOT_UTF8,
            )

    def discard(self) -> Routine[None]:
        """Abort an open write; nothing of it becomes visible."""
        writer, self.writer = self.writer, None
        if writer is not None:
            yield from discard_write(writer)

    def failed(self, message: str, code: OutputCode) -> CommandOutput:
        return CommandOutput(
            command=self.name,
            ok=False,
            error=message,
            subject=self.subject,
            position=self.position,
            code=code,
        )

    def located(self, output: CommandOutput) -> CommandOutput:
        """``output`` with the tag's position (and the command's subject) when it is a failure
        that has none."""
        if output.ok or (output.position is not None and output.subject):
            return output
        return dataclasses.replace(
            output,
            position=output.position or self.position,
            subject=output.subject or self.subject,
        )

    def commit(self, confirm: Confirm = go_ahead) -> Routine[CommandOutput]:
        """Commit a ``write_file`` (backend errors propagate; the engine reports them); a held
        one is first shown to ``confirm`` and written only if it goes ahead."""
        if self.held:
            refusal = yield from confirm(bytes(self.body).decode("utf-8", "replace"))
            if refusal is not None:
                return refusal
            receipt = yield from write_whole(self.subject, bytes(self.body))
            return _written(receipt)
        writer, self.writer = self.writer, None
        if writer is None:
            return self.failed("the write was not opened", OutputCode.WRITER_CLOSED)
        try:
            receipt = yield Commit(writer)
        except Exception:
            yield from discard_write(writer)
            raise
        return _written(receipt)

    def _write(self, data: bytes) -> Routine[None]:
        if self.held:
            self._collect(self.body, data, self.limits.edit_max_bytes)
            return
        if self.writer is None:
            return
        try:
            yield WriteData(self.writer, data)
        except Exception as error:
            yield from self.note_error(describe_failure(error), failure_code(error))

    def _collect(self, into: bytearray, data: bytes, limit: int) -> None:
        if self._fits(len(data), limit):
            into += data

    def _fits(self, size: int, limit: int) -> bool:
        """Count ``size`` more bytes of body; past ``limit``, drop the body and fail (at once,
        so nothing past the cap is held)."""
        self.collected += size
        if self.collected <= limit:
            return True
        self.keep_error(_too_long(self.name, self.held, limit), OutputCode.BODY_TOO_LONG)
        self.body, self.part_data, self.parts = bytearray(), bytearray(), []
        return False


def _too_long(name: str, held: bool, limit: int) -> str:
    if held:
        return (
            f"the content is longer than {limit} bytes, the most a write_file that needs "
            f"approval may hold while it waits; nothing was written: write it in smaller files"
        )
    instead = {
        "terminal": "put long scripts in a file with write_file and run that file",
        "apply_edit": "split the change into several smaller apply_edit commands, or use "
        "write_file to replace the whole file",
        "apply_patch": "split it into several smaller patches",
    }.get(name, "make it shorter")
    return f"the body of <{name}> is longer than {limit} bytes; nothing was applied: {instead}"


def _written(receipt: WriteReceipt) -> WriteFileOutput:
    return WriteFileOutput(
        command="write_file",
        ok=True,
        subject=receipt.path,
        path=receipt.path,
        bytes_written=receipt.bytes_written,
        sha256=receipt.sha256,
        created=receipt.created,
    )
