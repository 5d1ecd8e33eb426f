"""``Engine``: turns the parser's instructions into commands run through the two interfaces.

The engine does no I/O of its own: it calls ``VirtualFileSystem`` and ``TerminalProvider`` and
reads the injected clock only for statistics. Its instruction handling is one state machine whose
transitions are the table ``_TRANSITIONS`` below; each handler returns the next state and only
``Engine.feed`` assigns it. Whatever the instructions, ``feed`` returns outputs and never raises:
bad markup, out-of-order instructions and backend failures become failed ``CommandOutput``s.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TypeVar

from sa3p_engine._backend import BackendError, FileHash, TerminalProvider, VirtualFileSystem
from sa3p_engine._limits import Limits
from sa3p_engine._open_command import COMMANDS, PARTS, OpenCommand, run_command
from sa3p_engine._outputs import (
    CommandOutput,
    CommandStatistics,
    NoticeOutput,
    StateHeader,
    TurnResult,
)
from sa3p_engine._prompt import CapabilityManifest, build_manifest
from sa3p_parser import (
    EndTag,
    Instruction,
    ParseProblem,
    ProblemKind,
    RawChunk,
    StartTag,
    Text,
    WriteChunk,
)

__all__ = ["Engine", "EngineClosedError"]


class EngineClosedError(RuntimeError):
    """The engine was used after ``close()`` (a caller bug, not something a model can cause)."""


class _State(enum.Enum):
    IDLE = "idle"
    COMMAND = "command"
    EDIT_PART = "edit_part"


class _Event(enum.Enum):
    START = "start"
    END = "end"
    TEXT = "text"
    WRITE = "write"
    RAW = "raw"
    PROBLEM = "problem"
    FINISH = "finish"
    """The turn ended (``finish_turn``); not an instruction."""


_EVENT_OF: dict[type, _Event] = {
    StartTag: _Event.START,
    EndTag: _Event.END,
    Text: _Event.TEXT,
    WriteChunk: _Event.WRITE,
    RawChunk: _Event.RAW,
    ParseProblem: _Event.PROBLEM,
}

_Handler = Callable[["Engine", Instruction | None], _State]
_T = TypeVar("_T")


class Engine:
    """Runs the commands a model streams, each as soon as its instructions are complete.

    Args:
        vfs: the workspace's files.
        terminal: runs shell commands.
        terminal_timeout: default seconds before a command is detached (else ``limits``').
        limits: every other bound (see ``Limits``).
        clock: seconds, for statistics and durations only.
    """

    def __init__(
        self,
        vfs: VirtualFileSystem,
        terminal: TerminalProvider,
        *,
        terminal_timeout: float | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        limits = limits or Limits()
        if terminal_timeout is not None:
            maximum = max(limits.max_terminal_timeout, terminal_timeout)
            limits = dataclasses.replace(
                limits, terminal_timeout=terminal_timeout, max_terminal_timeout=maximum
            )
        self._vfs = vfs
        self._terminal = terminal
        self._limits = limits
        self._clock = clock
        self._state = _State.IDLE
        self._open: OpenCommand | None = None
        self._abandoned: str | None = None
        self._outputs: list[CommandOutput] = []
        self._statistics: dict[str, CommandStatistics] = {}
        self._closed = False

    @property
    def limits(self) -> Limits:
        return self._limits

    # --- the public verbs ---------------------------------------------------------------------

    def feed(self, instruction: Instruction) -> list[CommandOutput]:
        """Take one instruction; return the outputs of the commands it completed (often none).

        Chunk boundaries carry no meaning: splitting a ``WriteChunk``, ``RawChunk`` or ``Text``
        differently gives the same results.
        """
        if self._closed:
            raise EngineClosedError("feed() after close()")
        event = _EVENT_OF.get(type(instruction))
        if event is None:
            raise TypeError(f"not an instruction: {type(instruction).__name__}")
        before = len(self._outputs)
        self._transition(event, instruction)
        return self._outputs[before:]

    def finish_turn(self) -> TurnResult:
        """End the turn: a command still open fails (nothing of it ran), then the state header."""
        if self._closed:
            raise EngineClosedError("finish_turn() after close()")
        self._transition(_Event.FINISH, None)
        outputs, self._outputs = self._outputs, []
        return TurnResult.of(outputs, self.state_header())

    def execute_turn(self, instructions: Iterable[Instruction]) -> TurnResult:
        """Feed every instruction, then ``finish_turn``."""
        for instruction in instructions:
            self.feed(instruction)
        return self.finish_turn()

    def state_header(self) -> StateHeader:
        """cwd, recent file hashes and active pids; a backend failure shows as empty/unknown."""
        cwd = self._safely(self._vfs.cwd, "(unknown)")
        no_files: list[FileHash] = []
        no_pids: list[int] = []
        recent = self._safely(
            lambda: self._vfs.recent_file_hashes(self._limits.recent_files), no_files
        )
        pids = self._safely(self._terminal.active_pids, no_pids)
        return StateHeader(cwd, list(recent), list(pids))

    def capability_manifest(self) -> CapabilityManifest:
        """What this engine accepts: commands, attributes, formats and limits."""
        return build_manifest(self._limits)

    def statistics(self) -> dict[str, CommandStatistics]:
        """Calls, failures and total seconds per command name, since the engine started."""
        return dict(sorted(self._statistics.items()))

    def close(self) -> None:
        """Abort an open write and end every process the terminal started. Idempotent."""
        if self._closed:
            return
        if self._open is not None:
            self._open.discard()
            self._open = None
        self._closed = True
        self._safely(self._terminal.close, None)

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- transitions --------------------------------------------------------------------------

    def _transition(self, event: _Event, instruction: Instruction | None) -> None:
        """The only place ``_state`` changes: look up the handler, take the state it returns."""
        self._state = _TRANSITIONS[(self._state, event)](self, instruction)

    def _finish(self, instruction: Instruction | None) -> _State:
        del instruction
        if self._open is not None:
            self._abandon(f"the turn ended before </{self._open.name}>")
        self._abandoned = None
        return _State.IDLE

    def _start_in_idle(self, instruction: Instruction | None) -> _State:
        assert isinstance(instruction, StartTag)
        self._abandoned = None
        if instruction.name not in COMMANDS:
            where = "outside <apply_edit>" if instruction.name in PARTS else "unknown command"
            self._fail(instruction.name, f"<{instruction.name}> is {where}; it was ignored")
            return _State.IDLE
        self._open = OpenCommand.start(instruction, self._vfs, self._limits, self._clock())
        return _State.COMMAND

    def _start_in_command(self, instruction: Instruction | None) -> _State:
        assert isinstance(instruction, StartTag) and self._open is not None
        if instruction.name in PARTS and self._open.name == "apply_edit":
            self._open.start_part(instruction.name)
            return _State.EDIT_PART
        self._abandon(
            f"<{instruction.name}> opened before </{self._open.name}>; close each command "
            f"before the next one"
        )
        return self._start_in_idle(instruction)

    def _end_in_idle(self, instruction: Instruction | None) -> _State:
        assert isinstance(instruction, EndTag)
        if instruction.name == self._abandoned:
            self._abandoned = None  # the parser closing a command it reported as nested
        else:
            self._fail(instruction.name, f"</{instruction.name}> without its opening tag")
        return _State.IDLE

    def _end_in_command(self, instruction: Instruction | None) -> _State:
        assert isinstance(instruction, EndTag) and self._open is not None
        if instruction.name != self._open.name:
            self._open.note_error(
                f"</{instruction.name}> inside <{self._open.name}> does not close it"
            )
            return _State.COMMAND
        command, self._open = self._open, None
        self._record(command, self._execute(command))
        return _State.IDLE

    def _end_in_part(self, instruction: Instruction | None) -> _State:
        assert isinstance(instruction, EndTag) and self._open is not None
        if instruction.name in PARTS:
            self._open.end_part()
            return _State.COMMAND
        if instruction.name == self._open.name:
            self._open.end_part()
            return self._end_in_command(instruction)
        self._open.note_error(f"</{instruction.name}> inside <{self._open.name}> does not close it")
        return _State.EDIT_PART

    def _data_in_command(self, instruction: Instruction | None) -> _State:
        assert self._open is not None and instruction is not None
        self._open.add(instruction)
        return self._state

    def _ignore(self, instruction: Instruction | None) -> _State:
        del instruction  # prose between commands is the model talking
        return _State.IDLE

    def _stray_data(self, instruction: Instruction | None) -> _State:
        assert instruction is not None
        kind = type(instruction).__name__
        tag = instruction.tag if isinstance(instruction, RawChunk) else "write_file"
        self._fail(tag, f"{kind} outside any command (out-of-order instruction); ignored")
        return _State.IDLE

    def _problem(self, instruction: Instruction | None) -> _State:
        assert isinstance(instruction, ParseProblem)
        ends_command = instruction.kind in (
            ProblemKind.UNCLOSED_COMMAND,
            ProblemKind.NESTED_COMMAND,
        )
        if self._open is not None and ends_command and _reports_a_part(instruction, self._open):
            return self._state  # the report for the command itself follows: one failure, not two
        if self._open is not None and ends_command:
            self._abandoned = self._open.name
            self._abandon(_problem_text(instruction))
            return _State.IDLE
        self._outputs.append(_problem_output(instruction))
        return self._state

    # --- helpers ------------------------------------------------------------------------------

    def _execute(self, command: OpenCommand) -> CommandOutput:
        try:
            return run_command(command, self._vfs, self._terminal, self._limits)
        except BackendError as error:
            command.discard()
            return command.failed(f"{error.message} ({error.code.value})")
        except Exception as error:  # a backend bug must not end the model's turn
            command.discard()
            return command.failed(f"backend failure: {type(error).__name__}: {error}")

    def _abandon(self, reason: str) -> None:
        command, self._open = self._open, None
        if command is None:
            return
        command.discard()
        nothing = "nothing was written" if command.name == "write_file" else "it was not run"
        self._record(command, command.failed(f"{reason}; {nothing}"))

    def _fail(self, command: str, message: str) -> None:
        self._outputs.append(CommandOutput(command=command, ok=False, error=message))

    def _record(self, command: OpenCommand, output: CommandOutput) -> None:
        self._outputs.append(output)
        old = self._statistics.get(command.name, CommandStatistics(command=command.name))
        self._statistics[command.name] = dataclasses.replace(
            old,
            calls=old.calls + 1,
            failures=old.failures + (not output.ok),
            seconds=old.seconds + max(self._clock() - command.started, 0.0),
        )

    def _safely(self, function: Callable[[], _T], default: _T) -> _T:
        try:
            return function()
        except Exception:
            return default


def _reports_a_part(problem: ParseProblem, command: OpenCommand) -> bool:
    """An unclosed ``<search>``/``<replace>`` inside the open command: the parser reports the
    enclosing command next (innermost first), and that report names the command the model sees."""
    return (
        problem.kind is ProblemKind.UNCLOSED_COMMAND
        and problem.tag in PARTS
        and problem.tag != command.name
    )


def _problem_text(problem: ParseProblem) -> str:
    return f"{problem.message} at {problem.position}"


def _problem_output(problem: ParseProblem) -> CommandOutput:
    """A parser report as an output; a quoted command is a notice (it was shown, not run)."""
    tag = problem.tag or "markup"
    if problem.kind is ProblemKind.QUOTED_COMMAND:
        return NoticeOutput(command=tag, ok=False, error=_problem_text(problem))
    return CommandOutput(command=tag, ok=False, error=_problem_text(problem))


_TRANSITIONS: dict[tuple[_State, _Event], _Handler] = {
    (_State.IDLE, _Event.START): Engine._start_in_idle,
    (_State.IDLE, _Event.END): Engine._end_in_idle,
    (_State.IDLE, _Event.TEXT): Engine._ignore,
    (_State.IDLE, _Event.WRITE): Engine._stray_data,
    (_State.IDLE, _Event.RAW): Engine._stray_data,
    (_State.IDLE, _Event.PROBLEM): Engine._problem,
    (_State.COMMAND, _Event.START): Engine._start_in_command,
    (_State.COMMAND, _Event.END): Engine._end_in_command,
    (_State.COMMAND, _Event.TEXT): Engine._data_in_command,
    (_State.COMMAND, _Event.WRITE): Engine._data_in_command,
    (_State.COMMAND, _Event.RAW): Engine._data_in_command,
    (_State.COMMAND, _Event.PROBLEM): Engine._problem,
    (_State.EDIT_PART, _Event.START): Engine._start_in_command,
    (_State.EDIT_PART, _Event.END): Engine._end_in_part,
    (_State.EDIT_PART, _Event.TEXT): Engine._data_in_command,
    (_State.EDIT_PART, _Event.WRITE): Engine._data_in_command,
    (_State.EDIT_PART, _Event.RAW): Engine._data_in_command,
    (_State.EDIT_PART, _Event.PROBLEM): Engine._problem,
    (_State.IDLE, _Event.FINISH): Engine._finish,
    (_State.COMMAND, _Event.FINISH): Engine._finish,
    (_State.EDIT_PART, _Event.FINISH): Engine._finish,
}
"""Every (state, event) pair; a handler returns the next state."""
