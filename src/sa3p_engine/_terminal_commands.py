"""``terminal`` and ``terminal_signal``: shell commands through the ``TerminalProvider``.

A command runs with the requested timeout (default ``Limits.terminal_timeout``, capped at
``Limits.max_terminal_timeout``); if it outlives it, it keeps running detached and its pid comes
back, so a dev server or a y/N prompt never hangs the agent. ``<terminal pid="N"/>`` with an
empty body reads what a detached process printed since. Output shown is capped at
``Limits.terminal_output_bytes``, keeping the head and the tail, with the total size reported,
and cleaned as a terminal would show it (``_terminal_text``: no escape sequences, progress
bars collapsed to their last state); the sizes reported are the raw output's.
"""

from __future__ import annotations

from collections.abc import Mapping

from sa3p_engine._attributes import (
    AttributeProblem,
    optional_int,
    optional_seconds,
    signal_attribute,
)
from sa3p_engine._backend import RunResult, SignalResult
from sa3p_engine._effects import Poll, Routine, Run, SendSignal
from sa3p_engine._limits import Limits
from sa3p_engine._output_codes import OutputCode
from sa3p_engine._outputs import CommandOutput, SignalOutput, TerminalOutput
from sa3p_engine._terminal_text import clean_terminal_text

__all__ = ["run_signal", "run_terminal"]


def _failed(command: str, message: str, code: OutputCode, subject: str = "") -> CommandOutput:
    return CommandOutput(command=command, ok=False, error=message, subject=subject, code=code)


def run_terminal(
    attributes: Mapping[str, str], body: bytes, limits: Limits
) -> Routine[CommandOutput]:
    """Run one ``terminal`` command (backend errors propagate to the engine)."""
    timeout = optional_seconds("terminal", attributes, "timeout")
    pid = optional_int("terminal", attributes, "pid")
    if isinstance(timeout, AttributeProblem):
        return _failed("terminal", timeout.message, timeout.code)
    if isinstance(pid, AttributeProblem):
        return _failed("terminal", pid.message, pid.code)
    seconds = min(timeout or limits.terminal_timeout, limits.max_terminal_timeout)
    try:
        command = body.decode("utf-8").strip()
    except UnicodeDecodeError as error:
        return _failed(
            "terminal", f"the command is not valid UTF-8 (byte {error.start})", OutputCode.NOT_UTF8
        )
    if pid is not None:
        if command:
            message = "give either a command or pid=…, not both"
            return _failed("terminal", message, OutputCode.BAD_ATTRIBUTE, str(pid))
        polled: RunResult = yield Poll(pid, seconds)
        return _output(f"pid {pid}", polled, seconds, limits, polled=True)
    if not command:
        return _failed(
            "terminal",
            "the command is empty: write <terminal>ls -la</terminal>",
            OutputCode.EMPTY_COMMAND,
        )
    result: RunResult = yield Run(command, seconds)
    return _output(command, result, seconds, limits, polled=False)


def _output(
    subject: str, result: RunResult, timeout: float, limits: Limits, *, polled: bool
) -> TerminalOutput:
    head, tail = _capped(result, limits.terminal_output_bytes)
    shown = len(head) + len(tail)
    text = clean_terminal_text(head.decode("utf-8", "replace"))
    if result.total_bytes > shown:
        text += f"\n[… {result.total_bytes - shown} bytes omitted …]\n"
    text += clean_terminal_text(tail.decode("utf-8", "replace"))
    return TerminalOutput(
        command="terminal",
        ok=True,
        subject=subject,
        pid=result.pid,
        exit_code=result.exit_code,
        duration=result.duration,
        output=text,
        total_bytes=result.total_bytes,
        omitted_bytes=result.total_bytes - shown,
        polled=polled,
        timeout=timeout,
    )


def _capped(result: RunResult, limit: int) -> tuple[bytes, bytes]:
    """Head and tail within ``limit`` bytes; the provider's own head/tail split is respected."""
    head, tail = result.head, result.tail
    if len(head) + len(tail) <= limit:
        return head, tail
    half = limit // 2
    if result.omitted_bytes == 0:  # head + tail is the whole output, contiguous
        whole = head + tail
        return whole[:half], whole[-half:]
    return head[:half], tail[-half:]


def run_signal(attributes: Mapping[str, str]) -> Routine[CommandOutput]:
    """Run one ``terminal_signal`` command (backend errors propagate to the engine)."""
    pid = optional_int("terminal_signal", attributes, "pid")
    if pid is None:
        message = 'missing attribute pid: write pid="1234"'
        return _failed("terminal_signal", message, OutputCode.BAD_ATTRIBUTE)
    if isinstance(pid, AttributeProblem):
        return _failed("terminal_signal", pid.message, pid.code)
    signal = signal_attribute(attributes)
    if isinstance(signal, AttributeProblem):
        return _failed("terminal_signal", signal.message, signal.code, str(pid))
    name, number = signal
    result: SignalResult = yield SendSignal(pid, number)
    return SignalOutput(
        command="terminal_signal",
        ok=True,
        subject=str(pid),
        pid=pid,
        signal=name,
        exited=result.exited,
        exit_code=result.exit_code,
    )
