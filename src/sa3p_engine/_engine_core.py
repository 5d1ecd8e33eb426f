"""``EngineCore``: the Sans-IO engine. Instructions in, effects out, outputs back.

The core performs no I/O and never blocks: each public verb returns a ``Routine`` (a generator
of ``Effect`` values, see ``_effects``) that a driver runs — ``Engine`` synchronously,
``AsyncEngine`` on anyio. Instruction handling is one state machine whose transitions are the
table ``_TRANSITIONS`` below; each handler returns the next state and only ``feed`` assigns it.
Whatever the instructions, a routine returns outputs and never raises for the model's input:
bad markup, out-of-order instructions and backend failures become failed ``CommandOutput``s.
The injected clock is read for statistics only.

Two guards sit between the model and the backends. The policy (``_policy_gate``) judges every
well-formed command before any effect of it and may deny it or have it asked about (an
``Approve`` effect). The output budget (``_output_budget``) reduces a turn's results to one line
each once the turn has delivered its share of text; every output goes through ``_deliver``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

from sa3p_engine._backend import FileHash
from sa3p_engine._commands import COMMANDS, PARTS, OpenCommand, describe_failure
from sa3p_engine._effects import (
    ActivePids,
    CloseTerminal,
    Confirm,
    Cwd,
    RecentHashes,
    Routine,
    go_ahead,
    safely,
)
from sa3p_engine._limits import Limits
from sa3p_engine._output_budget import OutputBudget
from sa3p_engine._output_codes import OutputCode, failure_code
from sa3p_engine._outputs import (
    CommandOutput,
    CommandStatistics,
    DeniedOutput,
    NoticeOutput,
    ProblemOutput,
    StateHeader,
    TurnResult,
)
from sa3p_engine._policy import Policy, PolicyAction
from sa3p_engine._policy_gate import PolicyGate
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

__all__ = ["EngineClosedError", "EngineCore"]


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

_Handler = Callable[["EngineCore", Any], Routine[_State]]


class EngineCore:
    """The engine's decisions, with no backend in sight.

    Args:
        limits: every bound (see ``Limits``).
        clock: seconds, for statistics only.
        policy: the rules commands must pass; None lets every command run.
        can_ask: whether the driver answers ``Approve`` effects; without, *ask* means *deny*.
    """

    def __init__(
        self,
        *,
        limits: Limits,
        clock: Callable[[], float],
        policy: Policy | None = None,
        can_ask: bool = False,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._gate = PolicyGate(policy, can_ask=can_ask)
        self._budget = OutputBudget(limits.turn_output_bytes)
        self._state = _State.IDLE
        self._open: OpenCommand | None = None
        self._abandoned: str | None = None
        self._outputs: list[CommandOutput] = []
        self._statistics: dict[str, CommandStatistics] = {}
        self._closed = False

    # --- the verbs (each a routine) -----------------------------------------------------------

    def feed(self, instruction: Instruction) -> Routine[list[CommandOutput]]:
        """Take one instruction; return the outputs of the commands it completed (often none)."""
        self._check_open("feed")
        event = _EVENT_OF.get(type(instruction))
        if event is None:
            raise TypeError(f"not an instruction: {type(instruction).__name__}")
        return self._step(event, instruction)

    def finish_turn(self) -> Routine[TurnResult]:
        """End the turn: a command still open fails (nothing of it ran), then the state header."""
        self._check_open("finish_turn")
        return self._finish_turn()

    def state_header(self) -> Routine[StateHeader]:
        """cwd, recent file hashes and active pids; a backend failure shows as empty/unknown."""
        cwd = yield from safely(Cwd(), "(unknown)")
        recent: list[FileHash] = yield from safely(RecentHashes(self.limits.recent_files), [])
        pids: list[int] = yield from safely(ActivePids(), [])
        return StateHeader(cwd, list(recent), list(pids))

    def close(self) -> Routine[None]:
        """Abort an open write and end every process the terminal started. Idempotent."""
        if self._closed:
            return
        self._closed = True
        command, self._open = self._open, None
        if command is not None:
            yield from command.discard()
        yield from safely(CloseTerminal(), None)

    @property
    def policy(self) -> Policy | None:
        return self._gate.policy

    def capability_manifest(self) -> CapabilityManifest:
        """What this engine accepts: commands, attributes, formats and limits."""
        return build_manifest(self.limits)

    def statistics(self) -> dict[str, CommandStatistics]:
        """Calls, failures, denials and total seconds per command name, since the engine
        started."""
        return dict(sorted(self._statistics.items()))

    # --- transitions --------------------------------------------------------------------------

    def _step(self, event: _Event, instruction: Instruction | None) -> Routine[list[CommandOutput]]:
        """The only place ``_state`` changes: look up the handler, take the state it returns.

        A routine abandoned half-way (its driver was cancelled) drops the command it was in.
        """
        before = len(self._outputs)
        try:
            self._state = yield from _TRANSITIONS[(self._state, event)](self, instruction)
        except GeneratorExit:
            self._state, self._open = _State.IDLE, None
            raise
        return self._outputs[before:]

    def _finish_turn(self) -> Routine[TurnResult]:
        yield from self._step(_Event.FINISH, None)
        outputs, self._outputs = self._outputs, []
        self._budget.reset()
        header = yield from self.state_header()
        return TurnResult.of(outputs, header)

    def _finish(self, instruction: None) -> Routine[_State]:
        if self._open is not None:
            yield from self._abandon(
                f"the turn ended before </{self._open.name}>", OutputCode.CUT_OFF
            )
        self._abandoned = None
        return _State.IDLE

    def _start_in_idle(self, instruction: StartTag) -> Routine[_State]:
        self._abandoned = None
        if instruction.name not in COMMANDS:
            where = "outside <apply_edit>" if instruction.name in PARTS else "unknown command"
            self._fail(instruction.name, f"<{instruction.name}> is {where}; it was ignored")
            return _State.IDLE
        command = self._open = OpenCommand(instruction, self.limits, self._clock())
        if command.check_attributes() and command.name == "write_file":
            # Judged now, before its writer opens: its body streams to it as it arrives.
            yield from self._judge(command)
            verdict = command.verdict
            command.held = verdict is not None and verdict.action is PolicyAction.ASK
            if command.denial is None and not command.held:
                yield from command.open_writer()
        return _State.COMMAND

    def _start_in_command(self, instruction: StartTag) -> Routine[_State]:
        assert self._open is not None
        if instruction.name in PARTS and self._open.name == "apply_edit":
            yield from self._open.start_part(instruction.name)
            return _State.EDIT_PART
        yield from self._abandon(
            f"<{instruction.name}> opened before </{self._open.name}>; close each command "
            f"before the next one",
            OutputCode.NOT_CLOSED,
        )
        return (yield from self._start_in_idle(instruction))

    def _end_in_idle(self, instruction: EndTag) -> Routine[_State]:
        yield from ()  # a routine like every handler, though it needs no effect
        if instruction.name == self._abandoned:
            self._abandoned = None  # the parser closing a command it reported as nested
        else:
            self._fail(instruction.name, f"</{instruction.name}> without its opening tag")
        return _State.IDLE

    def _end_in_command(self, instruction: EndTag) -> Routine[_State]:
        assert self._open is not None
        if instruction.name != self._open.name:
            yield from self._open.note_error(
                f"</{instruction.name}> inside <{self._open.name}> does not close it",
                OutputCode.MISPLACED_TAG,
            )
            return _State.COMMAND
        command, self._open = self._open, None
        output = yield from self._execute(command)
        self._record(command, output)
        return _State.IDLE

    def _end_in_part(self, instruction: EndTag) -> Routine[_State]:
        assert self._open is not None
        if instruction.name in PARTS:
            yield from self._open.end_part()
            return _State.COMMAND
        if instruction.name == self._open.name:
            yield from self._open.end_part()
            return (yield from self._end_in_command(instruction))
        yield from self._open.note_error(
            f"</{instruction.name}> inside <{self._open.name}> does not close it",
            OutputCode.MISPLACED_TAG,
        )
        return _State.EDIT_PART

    def _data_in_command(self, instruction: Instruction) -> Routine[_State]:
        assert self._open is not None
        yield from self._open.add(instruction)
        return self._state

    def _ignore(self, instruction: Text) -> Routine[_State]:
        yield from ()
        return _State.IDLE  # prose between commands is the model talking

    def _stray_data(self, instruction: WriteChunk | RawChunk) -> Routine[_State]:
        yield from ()
        kind = type(instruction).__name__
        tag = instruction.tag if isinstance(instruction, RawChunk) else "write_file"
        self._fail(tag, f"{kind} outside any command (out-of-order instruction); ignored")
        return _State.IDLE

    def _problem(self, instruction: ParseProblem) -> Routine[_State]:
        ends_command = instruction.kind in (
            ProblemKind.UNCLOSED_COMMAND,
            ProblemKind.NESTED_COMMAND,
        )
        if self._open is not None and ends_command and _reports_a_part(instruction, self._open):
            return self._state  # the report for the command itself follows: one failure, not two
        if self._open is not None and ends_command:
            self._abandoned = self._open.name
            yield from self._abandon(_problem_text(instruction), _PROBLEM_CODES[instruction.kind])
            return _State.IDLE
        self._deliver(_problem_output(instruction))
        return self._state

    # --- helpers ------------------------------------------------------------------------------

    def _execute(self, command: OpenCommand) -> Routine[CommandOutput]:
        try:
            return command.located((yield from self._judged(command)))
        except Exception as error:  # a backend's failure (or bug) must not end the model's turn
            yield from command.discard()
            return command.failed(describe_failure(error), failure_code(error))

    def _judged(self, command: OpenCommand) -> Routine[CommandOutput]:
        """Run a closed command if the policy lets it: a denial is its output; an edit is asked
        about once its change is known, any other command before it runs."""
        yield from command.end_part()
        if command.error is not None:
            return command.failed(command.error, command.error_code)
        if command.name != "write_file":
            yield from self._judge(command)
        if command.denial is not None:
            return command.denial
        confirm = self._gate.confirm(command.name, command.verdict)
        if command.name not in _SHOWS_ITS_CHANGE:
            refusal = yield from confirm("")
            if refusal is not None:
                return refusal
            confirm = go_ahead
        return (yield from _run_command(command, confirm))

    def _judge(self, command: OpenCommand) -> Routine[None]:
        command.verdict = yield from self._gate.judge(command)
        command.denial = self._gate.refusal(command.name, command.verdict)

    def _abandon(self, reason: str, code: OutputCode) -> Routine[None]:
        command, self._open = self._open, None
        if command is None:
            return
        yield from command.discard()
        nothing = "nothing was written" if command.name == "write_file" else "it was not run"
        self._record(command, command.failed(f"{reason}; {nothing}", code))

    def _fail(self, command: str, message: str) -> None:
        """A tag or a piece of body where it means nothing: a problem of the markup."""
        output = ProblemOutput(
            command=command, ok=False, error=message, code=OutputCode.MISPLACED_TAG
        )
        self._deliver(output)

    def _deliver(self, output: CommandOutput) -> None:
        """Keep ``output`` for ``feed`` and ``finish_turn``, within the turn's output budget."""
        self._outputs += self._budget.admit(output)

    def _record(self, command: OpenCommand, output: CommandOutput) -> None:
        self._deliver(output)
        old = self._statistics.get(command.name, CommandStatistics(command=command.name))
        self._statistics[command.name] = dataclasses.replace(
            old,
            calls=old.calls + 1,
            failures=old.failures + (not output.ok),
            denied=old.denied + isinstance(output, DeniedOutput),
            seconds=old.seconds + max(self._clock() - command.started, 0.0),
        )

    def _check_open(self, verb: str) -> None:
        if self._closed:
            raise EngineClosedError(f"{verb}() after close()")


_SHOWS_ITS_CHANGE = frozenset({"write_file", "apply_edit", "apply_patch"})
"""Commands asked about once their change is known (through their ``Confirm`` hook)."""


def _run_command(command: OpenCommand, confirm: Confirm) -> Routine[CommandOutput]:
    """Run a closed, judged command. Backend errors propagate; the core reports them."""
    attributes = command.attributes
    limits = command.limits
    match command.name:
        case "write_file":
            return (yield from command.commit(confirm))
        case "read_file":
            # Imported when first needed (here and below): start-up time of `sa3p run`.
            from sa3p_engine._read_file import run_read_file  # noqa: PLC0415

            return (yield from run_read_file(attributes, limits))
        case "list_files":
            from sa3p_engine._list_files import run_list_files  # noqa: PLC0415

            return (yield from run_list_files(attributes, limits))
        case "terminal":
            from sa3p_engine._terminal_commands import run_terminal  # noqa: PLC0415

            return (yield from run_terminal(attributes, bytes(command.body), limits))
        case "terminal_signal":
            from sa3p_engine._terminal_commands import run_signal  # noqa: PLC0415

            return (yield from run_signal(attributes))
        case "apply_patch":
            from sa3p_engine._apply_patch import run_apply_patch  # noqa: PLC0415

            return (yield from run_apply_patch(command.patch(), limits, confirm))
        case _:
            from sa3p_engine._apply_edit import run_apply_edit  # noqa: PLC0415

            return (yield from run_apply_edit(attributes, command.parts, limits, confirm))


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


_PROBLEM_CODES: dict[ProblemKind, OutputCode] = {
    ProblemKind.MALFORMED_TAG: OutputCode.PARSE_PROBLEM,
    ProblemKind.UNTERMINATED_TAG: OutputCode.PARSE_PROBLEM,
    ProblemKind.INVALID_UTF8: OutputCode.PARSE_PROBLEM,
    ProblemKind.UNCLOSED_COMMAND: OutputCode.CUT_OFF,
    ProblemKind.NESTED_COMMAND: OutputCode.NOT_CLOSED,
    ProblemKind.UNEXPECTED_CLOSE: OutputCode.MISPLACED_TAG,
    ProblemKind.QUOTED_COMMAND: OutputCode.QUOTED,
}
"""The code of each kind of parser report."""


def _problem_output(problem: ParseProblem) -> CommandOutput:
    """A parser report as an output; a quoted command is a notice (it was shown, not run)."""
    tag = problem.tag or "markup"
    kind = NoticeOutput if problem.kind is ProblemKind.QUOTED_COMMAND else ProblemOutput
    return kind(
        command=tag,
        ok=False,
        error=_problem_text(problem),
        position=problem.position,
        code=_PROBLEM_CODES[problem.kind],
    )


_TRANSITIONS: dict[tuple[_State, _Event], _Handler] = {
    (_State.IDLE, _Event.START): EngineCore._start_in_idle,
    (_State.IDLE, _Event.END): EngineCore._end_in_idle,
    (_State.IDLE, _Event.TEXT): EngineCore._ignore,
    (_State.IDLE, _Event.WRITE): EngineCore._stray_data,
    (_State.IDLE, _Event.RAW): EngineCore._stray_data,
    (_State.IDLE, _Event.PROBLEM): EngineCore._problem,
    (_State.COMMAND, _Event.START): EngineCore._start_in_command,
    (_State.COMMAND, _Event.END): EngineCore._end_in_command,
    (_State.COMMAND, _Event.TEXT): EngineCore._data_in_command,
    (_State.COMMAND, _Event.WRITE): EngineCore._data_in_command,
    (_State.COMMAND, _Event.RAW): EngineCore._data_in_command,
    (_State.COMMAND, _Event.PROBLEM): EngineCore._problem,
    (_State.EDIT_PART, _Event.START): EngineCore._start_in_command,
    (_State.EDIT_PART, _Event.END): EngineCore._end_in_part,
    (_State.EDIT_PART, _Event.TEXT): EngineCore._data_in_command,
    (_State.EDIT_PART, _Event.WRITE): EngineCore._data_in_command,
    (_State.EDIT_PART, _Event.RAW): EngineCore._data_in_command,
    (_State.EDIT_PART, _Event.PROBLEM): EngineCore._problem,
    (_State.IDLE, _Event.FINISH): EngineCore._finish,
    (_State.COMMAND, _Event.FINISH): EngineCore._finish,
    (_State.EDIT_PART, _Event.FINISH): EngineCore._finish,
}
"""Every (state, event) pair; a handler is a routine returning the next state."""
