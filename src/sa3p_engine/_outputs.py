"""The values the engine returns: one frozen output class per command, the turn, the header.

Every output shares ``command`` (the tag name), ``ok``, ``error`` (None when ok), ``code`` (an
``OutputCode`` when not ok), ``subject`` (the path, pid or whole command line it concerns) and
``render()`` (the text the model sees). A failure of any command is a plain ``CommandOutput``; a
success is the command's own subclass with its fields. ``render()`` is deterministic: the same
value renders to the same text. Rendered text shows a SHA-256 as its first ``HASH_SHOWN`` hex
digits (enough to tell contents apart, and ``expected_sha256`` accepts it) and a long command
line as its first line cut to 80 characters; the fields keep both whole.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from sa3p_engine._backend import FileHash
from sa3p_engine._edit_tiers import EditTier
from sa3p_engine._output_codes import OutputCode
from sa3p_parser import Position

__all__ = [
    "HASH_SHOWN",
    "ApplyEditOutput",
    "ApplyPatchOutput",
    "CommandOutput",
    "CommandStatistics",
    "DenialCause",
    "DeniedOutput",
    "EditReport",
    "EditTier",
    "ListFilesOutput",
    "NoticeOutput",
    "PatchAction",
    "PatchFileReport",
    "ProblemOutput",
    "ReadFileOutput",
    "SignalOutput",
    "StateHeader",
    "SummaryOutput",
    "TerminalOutput",
    "TurnResult",
    "WriteFileOutput",
    "shown_hash",
    "shown_subject",
]

HASH_SHOWN = 16
"""Hex digits of a SHA-256 shown in rendered text (64 bits: no two contents of a workspace
share them in practice; ``expected_sha256`` takes any prefix of 12 or more)."""

_SUBJECT_WIDTH = 80


def shown_hash(sha256: str) -> str:
    """A SHA-256 as rendered text shows it: its first ``HASH_SHOWN`` hex digits."""
    return sha256[:HASH_SHOWN]


def shown_subject(subject: str) -> str:
    """A subject as rendered text shows it: its first line, at most 80 characters (``…`` marks a
    cut)."""
    first = subject.split("\n", 1)[0]
    if len(first) <= _SUBJECT_WIDTH and first == subject:
        return subject
    return first[: _SUBJECT_WIDTH - 1] + "…"


@dataclass(frozen=True, slots=True)
class LiveOutput:
    """A piece of a running ``terminal`` command's output, as it arrives (for people watching;
    the model sees the result's capped, cleaned output). Chunk boundaries carry no meaning, but
    the first piece of each run or poll is empty: it says the command started (a view shows the
    time elapsed from it); the command's result says it ended.

    Attributes:
        subject: the command line, or ``pid N`` for a poll: the subject of the result that
            follows.
        data: the bytes, raw (escape sequences included; UTF-8 may be split between pieces).
    """

    subject: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandOutput:
    """The result of one command. Failures of every command are this class itself.

    Attributes:
        command: the tag name (``write_file``…), or ``markup`` for a problem in the model's markup
            that belongs to no command.
        ok: whether the command did what was asked.
        error: why not, naming what and where; None when ok.
        subject: the path, whole command line or pid the output concerns ("" if none).
        position: where the command's tag starts in the reply (None when unknown); a failure
            shows it, so the model can find the tag it has to fix.
        code: why not, as a stable name (None when ok). A failure built without one gets
            ``OutputCode.COMMAND_FAILED``; the engine always gives one.
    """

    command: str
    ok: bool
    error: str | None = None
    subject: str = ""
    position: Position | None = None
    code: OutputCode | None = None

    def __post_init__(self) -> None:
        if self.ok == (self.error is not None):
            raise ValueError("an output has an error exactly when it is not ok")
        if self.ok and self.code is not None:
            raise ValueError("an output that is ok has no code")
        if not self.ok and self.code is None:
            object.__setattr__(self, "code", OutputCode.COMMAND_FAILED)

    def render(self) -> str:
        subject = f" {shown_subject(self.subject)}" if self.subject else ""
        where = (
            f" (line {self.position.line}, column {self.position.column})"
            if self.position is not None
            else ""
        )
        return f"[{self.command}{subject}] FAILED{where}: {self.error}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeOutput(CommandOutput):
    """Something the model should know that is not a command's result (e.g. a quoted command).

    ``ok`` is False (nothing ran) and ``error`` holds the notice.
    """

    def render(self) -> str:
        return f"[notice] {self.error}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProblemOutput(CommandOutput):
    """A problem in the model's markup that belongs to no command (a malformed tag, a close tag
    without its opening tag): nothing ran. ``error`` names it and, when known, where it is
    (``position`` holds the same place)."""

    def render(self) -> str:
        return f"[{self.command}] FAILED: {self.error}"


class DenialCause(enum.StrEnum):
    """Why a command was not run although it was well formed."""

    RULE = enum.auto()
    """A deny rule of the policy matched."""
    DEFAULT = enum.auto()
    """No rule matched and the policy's default is deny."""
    REFUSED = enum.auto()
    """The command needed approval and the person asked said no."""
    UNANSWERED = enum.auto()
    """The command needed approval and no one could be asked (no approver, or asking failed)."""


_DENIAL_CODES = {
    DenialCause.RULE: OutputCode.DENIED,
    DenialCause.DEFAULT: OutputCode.DENIED,
    DenialCause.REFUSED: OutputCode.REFUSED,
    DenialCause.UNANSWERED: OutputCode.APPROVAL_NEEDED,
}
"""A denial's code follows from its cause."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeniedOutput(CommandOutput):
    """A command the policy (or the person asked) did not let run: nothing of it happened.

    ``ok`` is False and ``error`` is the whole sentence the model reads.

    Attributes:
        cause: a rule, the default, a refusal, or no one to ask.
        rule_index: the 1-based number of the rule that decided (None for the default).
        rule: that rule as written (``action = "deny", command = "terminal", prefix = "git
            push"``), or the default (``default = "deny"``).
        reason: what the model may do instead.
    """

    cause: DenialCause
    rule_index: int | None
    rule: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", _DENIAL_CODES[self.cause])
        CommandOutput.__post_init__(self)

    def render(self) -> str:
        subject = f" {shown_subject(self.subject)}" if self.subject else ""
        return f"[{self.command}{subject}] DENIED: {self.error}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryOutput(CommandOutput):
    """A command's result reduced to one status line, once the turn's output budget is spent.

    ``summary`` is the first line of the full result (command, subject, ok or failed, its key
    numbers: lines and sha256 of a read, exit code and output size of a terminal command…) with
    how many lines were left out; the rest of the result is gone.
    """

    summary: str

    def render(self) -> str:
        return self.summary


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteFileOutput(CommandOutput):
    """A committed ``write_file``."""

    path: str
    bytes_written: int
    sha256: str
    created: bool

    def render(self) -> str:
        verb = "created" if self.created else "replaced"
        return (
            f"[write_file {self.path}] ok: {verb}, {self.bytes_written} bytes, "
            f"sha256 {shown_hash(self.sha256)}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadFileOutput(CommandOutput):
    """A ``read_file``: the served lines, numbered, and what to do to continue.

    Attributes:
        requested: the (start_line, end_line) asked for; end None means "to the end".
        served: the (first, last) line served; (0, 0) when none.
        content: the served lines, each prefixed by its number; "" for a binary file.
        next_start_line: where to continue when the read was capped, else None.
    """

    path: str
    requested: tuple[int, int | None]
    served: tuple[int, int]
    total_lines: int
    size: int
    sha256: str
    content: str
    binary: bool = False
    warnings: tuple[str, ...] = ()
    next_start_line: int | None = None

    def render(self) -> str:
        first, last = self.served
        header = (
            f"[read_file {self.path}] ok: lines {first}-{last} of {self.total_lines}, "
            f"{self.size} bytes, sha256 {shown_hash(self.sha256)}"
        )
        parts = [header, *(f"warning: {text}" for text in self.warnings)]
        if self.binary:
            parts.append("binary file: not shown (it is not UTF-8 text)")
        elif self.content:
            parts.append(self.content.rstrip("\n"))
        if self.next_start_line is not None:
            parts.append(
                f"(truncated; continue with "
                f'<read_file path="{self.path}" start_line="{self.next_start_line}"/>)'
            )
        return "\n".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListFilesOutput(CommandOutput):
    """A ``list_files`` tree, already laid out within the line budget."""

    path: str
    listing: str
    total_files: int
    collapsed_directories: int = 0

    def render(self) -> str:
        notes = _count(self.total_files, "file")
        if self.collapsed_directories:
            notes += f", {self.collapsed_directories} dense directories collapsed"
        legend = "  (* = modified in the last 24 h)" if "*" in self.listing else ""
        body = self.listing or "(empty)"
        return f"[list_files {self.path}] ok: {notes}{legend}\n{body}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminalOutput(CommandOutput):
    """A ``terminal`` run, or a poll of a detached process (``polled``)."""

    pid: int
    exit_code: int | None
    duration: float
    output: str
    total_bytes: int
    omitted_bytes: int = 0
    polled: bool = False
    timeout: float = 0.0

    @property
    def running(self) -> bool:
        return self.exit_code is None

    def render(self) -> str:
        if self.running:
            status = (
                f"still running as pid {self.pid} after {self.timeout:g}s; read more with "
                f'<terminal pid="{self.pid}" timeout="30"/> or stop it with '
                f'<terminal_signal pid="{self.pid}" signal="SIGINT"/>'
            )
        else:
            status = f"exit code {self.exit_code}, {self.duration:.2f}s"
        head = (
            f"[terminal {shown_subject(self.subject)}] {status}, {self.total_bytes} bytes of output"
        )
        if self.omitted_bytes:
            head += f" ({self.omitted_bytes} bytes omitted in the middle)"
        output = self.output.removesuffix("\n")
        return f"{head}\n{output}" if output else head


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalOutput(CommandOutput):
    """A ``terminal_signal``."""

    pid: int
    signal: str
    exited: bool
    exit_code: int | None = None

    def render(self) -> str:
        if self.exited:
            result = f"the process exited (exit code {self.exit_code})"
        else:
            result = "the process is still running"
        return f"[terminal_signal {self.pid}] ok: sent {self.signal}; {result}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EditReport:
    """How one search/replace pair (or hunk) of an ``apply_edit`` was applied.

    Attributes:
        index: 1-based position of the pair in the command.
        tier: the matching tier that found it.
        similarity: 1.0 for exact and whitespace matches; the fuzzy score otherwise.
        start_line: first line of the replacement in the file right after this pair applied.
        end_line: its last line (start_line - 1 when the replacement is empty).
        ranges: (start_line, end_line) of every place replaced (several with
            ``expected_replacements``); the first is ``(start_line, end_line)``.
    """

    index: int
    tier: EditTier
    similarity: float
    start_line: int
    end_line: int
    ranges: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.ranges:
            object.__setattr__(self, "ranges", ((self.start_line, self.end_line),))
        elif self.ranges[0] != (self.start_line, self.end_line):
            raise ValueError("the first range is (start_line, end_line)")

    def render(self) -> str:
        score = f" (similarity {self.similarity:.2f})" if self.tier is EditTier.FUZZY else ""
        places = ", ".join(f"{a}-{b}" for a, b in self.ranges)
        count = f", {len(self.ranges)} places" if len(self.ranges) > 1 else ""
        return f"{self.tier.value} match{score}{count}, now lines {places}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyEditOutput(CommandOutput):
    """A committed ``apply_edit``: per pair its tier and lines, the new hash, a short diff."""

    path: str
    edits: tuple[EditReport, ...]
    sha256: str
    diff: str

    def render(self) -> str:
        count = _count(len(self.edits), "edit")
        lines = [f"[apply_edit {self.path}] ok: {count}, sha256 {shown_hash(self.sha256)}"]
        lines += [f"edit {edit.index}: {edit.render()}" for edit in self.edits]
        if self.diff:
            lines.append(self.diff.rstrip("\n"))
        return "\n".join(lines)


class PatchAction(enum.StrEnum):
    """What ``apply_patch`` did to one file (the values are the names in lower case)."""

    ADDED = enum.auto()
    UPDATED = enum.auto()
    MOVED = enum.auto()
    DELETED = enum.auto()


@dataclass(frozen=True, slots=True, kw_only=True)
class PatchFileReport:
    """One file an ``apply_patch`` changed.

    Attributes:
        path: the file (for a move, its new path).
        action: added, updated, moved or deleted.
        moved_from: the old path of a moved file.
        sha256: the new content's hash ("" for a deleted file).
        chunks: how each chunk of an update was located (index, tier, lines now).
    """

    path: str
    action: PatchAction
    moved_from: str | None = None
    sha256: str = ""
    chunks: tuple[EditReport, ...] = ()

    def render(self) -> str:
        name = f"{self.moved_from} -> {self.path}" if self.moved_from else self.path
        digest = f", sha256 {shown_hash(self.sha256)}" if self.sha256 else ""
        head = f"{self.action.value} {name}{digest}"
        return "\n".join([head, *(f"  chunk {c.index}: {c.render()}" for c in self.chunks)])


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyPatchOutput(CommandOutput):
    """A committed ``apply_patch``: every file it changed, and a short diff."""

    files: tuple[PatchFileReport, ...]
    diff: str

    def render(self) -> str:
        lines = [f"[apply_patch] ok: {_count(len(self.files), 'file')} changed"]
        lines += [report.render() for report in self.files]
        if self.diff:
            lines.append(self.diff.rstrip("\n"))
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class StateHeader:
    """The state the model sees at the top of each observation.

    Attributes are kept sorted (files by path, pids ascending) so the same state always renders
    to the same bytes.
    """

    cwd: str
    recent_hashes: list[FileHash] = field(default_factory=list)
    active_pids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "recent_hashes", sorted(self.recent_hashes, key=_hash_key))
        object.__setattr__(self, "active_pids", sorted(self.active_pids))

    def render(self) -> str:
        pids = ", ".join(str(pid) for pid in self.active_pids) or "none"
        lines = ["[state]", f"cwd: {self.cwd}", f"active pids: {pids}"]
        if self.recent_hashes:
            lines.append("recent files (sha256):")
            lines += [f"  {item.path} {shown_hash(item.sha256)}" for item in self.recent_hashes]
        else:
            lines.append("recent files: none")
        return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _hash_key(item: FileHash) -> tuple[str, str]:
    return (item.path, item.sha256)


@dataclass(frozen=True, slots=True)
class TurnResult:
    """Everything one turn produced: the outputs in command order and the state after them.

    ``outputs`` holds exactly what ``feed()`` returned during the turn, in order: each result
    in full while the turn's output budget (``Limits.turn_output_bytes`` of rendered text)
    lasted, then one ``NoticeOutput`` saying it is spent, then each result as a
    ``SummaryOutput`` (one status line) unless it is a denial or already one short line. So a
    turn keeps at most the budget in full results, whatever its length, and a caller that
    printed what ``feed()`` returned can skip that many outputs here.
    """

    outputs: tuple[CommandOutput, ...]
    state_header: StateHeader

    @classmethod
    def of(cls, outputs: Iterable[CommandOutput], header: StateHeader) -> TurnResult:
        return cls(tuple(outputs), header)

    def render(self) -> str:
        """The whole observation for the model's next turn."""
        body = [output.render() for output in self.outputs] or ["(no commands ran in this turn)"]
        return "\n\n".join([self.state_header.render(), *body]) + "\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandStatistics:
    """Calls, failures and total seconds of one command since the engine started.

    ``denied`` counts the calls the policy (or the person asked) did not let run; they are
    failures too.
    """

    command: str
    calls: int = 0
    failures: int = 0
    seconds: float = 0.0
    denied: int = 0
