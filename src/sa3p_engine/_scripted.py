"""``ScriptedTerminal``: a ``TerminalProvider`` whose commands and their behaviour are scripted.

No process is started. Each command string maps to a ``ScriptedCommand``: what it prints before
its timeout, whether it exits (and with which code) or keeps running, and what it prints later
(returned by ``poll``). Pids count up from 1000, so runs repeat exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sa3p_engine._backend import (
    ErrorCode,
    OutputCallback,
    RunResult,
    SignalResult,
    TerminalError,
)

__all__ = ["CONFORMANCE_COMMANDS", "ScriptedCommand", "ScriptedTerminal"]

_FIRST_PID = 1000
_STOPPING_SIGNALS = frozenset({1, 2, 3, 9, 15})  # HUP INT QUIT KILL TERM end a scripted command.


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptedCommand:
    """How one scripted command behaves.

    Attributes:
        output: what it prints before it exits or before its timeout passes.
        exit_code: its exit status, or None to keep running past any timeout.
        later_output: what a ``poll`` returns for a running command (once).
        exits_after_poll: with ``exit_code`` None, the status it exits with at its first poll.
        duration: the duration to report for a command that exits.
    """

    output: bytes = b""
    exit_code: int | None = 0
    later_output: bytes = b""
    exits_after_poll: int | None = None
    duration: float = 0.01


CONFORMANCE_COMMANDS: Mapping[str, ScriptedCommand] = {
    "printf hello": ScriptedCommand(output=b"hello"),
    "printf out; printf err >&2": ScriptedCommand(output=b"outerr"),
    "exit 3": ScriptedCommand(exit_code=3),
    "printf x; sleep 30": ScriptedCommand(output=b"x", exit_code=None),
    "sleep 30": ScriptedCommand(exit_code=None),
}
"""The portable commands the terminal conformance checks use, scripted as ``bash -c`` runs them."""


@dataclass(slots=True)
class _Running:
    script: ScriptedCommand
    later: bytes = b""
    exit_code: int | None = None
    polled: bool = field(default=False)


class ScriptedTerminal:
    """A ``TerminalProvider`` that plays back scripts.

    Args:
        scripts: command string to behaviour. A command with no script prints a message and
            exits with status 127, as a shell does for an unknown command.
    """

    def __init__(self, scripts: Mapping[str, ScriptedCommand] | None = None) -> None:
        self._scripts = dict(scripts or {})
        self._processes: dict[int, _Running] = {}
        self._next_pid = _FIRST_PID
        self._closed = False
        self.commands_run: list[str] = []
        """Every command ``run`` received, in order (for assertions)."""

    @classmethod
    def for_conformance(cls) -> ScriptedTerminal:
        """A terminal scripted for exactly the commands ``TERMINAL_CONFORMANCE`` uses."""
        return cls(CONFORMANCE_COMMANDS)

    def run(
        self, command: str, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        """Play ``command``'s script; ``on_output`` gets what it prints, in one piece."""
        self._check_open()
        self.commands_run.append(command)
        pid = self._next_pid
        self._next_pid += 1
        script = self._scripts.get(command)
        if script is None:
            message = f"scripted terminal: no script for {command!r}\n".encode()
            _live(on_output, message)
            return RunResult(pid=pid, head=message, exit_code=127, duration=0.0)
        _live(on_output, script.output)
        if script.exit_code is None:
            self._processes[pid] = _Running(script, later=script.later_output)
            return RunResult(pid=pid, head=script.output, exit_code=None, duration=timeout)
        return RunResult(
            pid=pid, head=script.output, exit_code=script.exit_code, duration=script.duration
        )

    def poll(
        self, pid: int, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        self._check_open()
        process = self._known(pid)
        output, process.later = process.later, b""
        _live(on_output, output)
        if process.exit_code is None and process.script.exits_after_poll is not None:
            process.exit_code = process.script.exits_after_poll
        if process.exit_code is not None:
            del self._processes[pid]
        return RunResult(pid=pid, head=output, exit_code=process.exit_code, duration=timeout)

    def signal(self, pid: int, signal: int) -> SignalResult:
        self._check_open()
        process = self._known(pid)
        if signal not in _STOPPING_SIGNALS:
            return SignalResult(pid=pid, signal=signal, exited=False)
        del self._processes[pid]
        process.exit_code = -signal
        return SignalResult(pid=pid, signal=signal, exited=True, exit_code=-signal)

    def active_pids(self) -> list[int]:
        return sorted(self._processes)

    def close(self) -> None:
        self._processes.clear()
        self._closed = True

    def _known(self, pid: int) -> _Running:
        process = self._processes.get(pid)
        if process is None:
            raise TerminalError(
                ErrorCode.UNKNOWN_PROCESS, f"pid {pid} is not a running process of this terminal"
            )
        return process

    def _check_open(self) -> None:
        if self._closed:
            raise TerminalError(ErrorCode.CLOSED, "the terminal is closed")


def _live(on_output: OutputCallback | None, data: bytes) -> None:
    if on_output is not None and data:
        on_output(data)
