"""``terminal`` and ``terminal_signal``: shell commands through the ``TerminalProvider``.

A command runs with the requested timeout (default ``Limits.terminal_timeout``, capped at
``Limits.max_terminal_timeout``); if it outlives it, it keeps running detached and its pid comes
back, so a dev server or a y/N prompt never hangs the agent. ``<terminal pid="N"/>`` with an
empty body reads what a detached process printed since. Output shown is capped at
``Limits.terminal_output_bytes``, keeping the head and the tail, with the total size reported.
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
from sa3p_engine._outputs import CommandOutput, SignalOutput, TerminalOutput

__all__ = ["run_signal", "run_terminal"]


def _failed(command: str, message: str, subject: str = "") -> CommandOutput:
    return CommandOutput(command=command, ok=False, error=message, subject=subject)


def run_terminal(
    attributes: Mapping[str, str], body: bytes, limits: Limits
) -> Routine[CommandOutput]:
    """Run one ``terminal`` command (backend errors propagate to the engine)."""
    timeout = optional_seconds("terminal", attributes, "timeout")
    pid = optional_int("terminal", attributes, "pid")
    if isinstance(timeout, AttributeProblem):
        return _failed("terminal", timeout.message)
    if isinstance(pid, AttributeProblem):
        return _failed("terminal", pid.message)
    seconds = min(timeout or limits.terminal_timeout, limits.max_terminal_timeout)
    try:
        command = body.decode("utf-8").strip()
    except UnicodeDecodeError as error:
        return _failed("terminal", f"the command is not valid UTF-8 (byte {error.start})")
    if pid is not None:
        if command:
            return _failed("terminal", "give either a command or pid=…, not both", str(pid))
        polled: RunResult = yield Poll(pid, seconds)
        return _output(f"pid {pid}", polled, seconds, limits, polled=True)
    if not command:
        return _failed("terminal", "the command is empty: write <terminal>ls -la</terminal>")
    result: RunResult = yield Run(command, seconds)
    return _output(command, result, seconds, limits, polled=False)


def _output(
    subject: str, result: RunResult, timeout: float, limits: Limits, *, polled: bool
) -> TerminalOutput:
    head, tail = _capped(result, limits.terminal_output_bytes)
    shown = len(head) + len(tail)
    text = head.decode("utf-8", "replace")
    if result.total_bytes > shown:
        text += f"\n[… {result.total_bytes - shown} bytes omitted …]\n"
    text += tail.decode("utf-8", "replace")
    return TerminalOutput(
        command="terminal",
        ok=True,
        subject=_one_line(subject),
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


def _one_line(command: str, width: int = 80) -> str:
    first = command.splitlines()[0] if command else ""
    return first if len(first) <= width and first == command else first[: width - 1] + "…"


def run_signal(attributes: Mapping[str, str]) -> Routine[CommandOutput]:
    """Run one ``terminal_signal`` command (backend errors propagate to the engine)."""
    pid = optional_int("terminal_signal", attributes, "pid")
    if pid is None:
        return _failed("terminal_signal", 'missing attribute pid: write pid="1234"')
    if isinstance(pid, AttributeProblem):
        return _failed("terminal_signal", pid.message)
    signal = signal_attribute(attributes)
    if isinstance(signal, AttributeProblem):
        return _failed("terminal_signal", signal.message, str(pid))
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
