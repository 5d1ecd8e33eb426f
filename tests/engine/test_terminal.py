"""terminal and terminal_signal through a scripted terminal."""

from __future__ import annotations

import pytest

from sa3p_engine import (
    Engine,
    Limits,
    OutputCallback,
    RunResult,
    SignalOutput,
    SignalResult,
    TerminalOutput,
)
from sa3p_engine.testing import MemoryFileSystem, ScriptedCommand, ScriptedTerminal

from .engine_helpers import command, make_engine, run_one

SCRIPTS = {
    "make test": ScriptedCommand(output=b"ok\n", exit_code=2, duration=1.5),
    "npm run dev": ScriptedCommand(output=b"listening\n", exit_code=None, later_output=b"GET /\n"),
    "build": ScriptedCommand(output=b"", exit_code=None, exits_after_poll=0),
}


def terminal_output(engine: Engine, *args: object, **attributes: str) -> TerminalOutput:
    output = run_one(engine, command("terminal", *args, **attributes))  # type: ignore[arg-type]
    assert isinstance(output, TerminalOutput), output.render()
    return output


def test_run_reports_output_exit_code_and_duration() -> None:
    engine, _, terminal = make_engine(scripts=SCRIPTS)
    output = terminal_output(engine, b"make test\n")
    assert terminal.commands_run == ["make test"]
    assert (output.exit_code, output.duration, output.output) == (2, 1.5, "ok\n")
    assert output.render() == "[terminal make test] exit code 2, 1.50s, 3 bytes of output\nok"


def test_a_command_outliving_its_timeout_is_detached_with_its_pid() -> None:
    engine, _, terminal = make_engine(scripts=SCRIPTS)
    output = terminal_output(engine, b"npm run dev", timeout="2")
    assert output.running and output.pid == 1000 and output.timeout == 2.0
    assert "still running as pid 1000 after 2s" in output.render()
    assert '<terminal_signal pid="1000" signal="SIGINT"/>' in output.render()
    assert terminal.active_pids() == [1000]
    later = terminal_output(engine, pid="1000", timeout="1")
    assert later.polled and later.output == "GET /\n" and later.running
    signal = run_one(engine, command("terminal_signal", pid="1000", signal="SIGTERM"))
    assert isinstance(signal, SignalOutput) and signal.exited and signal.exit_code == -15
    assert "sent SIGTERM; the process exited" in signal.render()


def test_poll_reports_the_exit_of_a_detached_process() -> None:
    engine, _, _ = make_engine(scripts=SCRIPTS)
    terminal_output(engine, b"build", timeout="1")
    done = terminal_output(engine, pid="1000")
    assert done.exit_code == 0 and not done.running


class RecordingTerminal(ScriptedTerminal):
    def __init__(self) -> None:
        super().__init__({"x": ScriptedCommand()})
        self.timeouts: list[float] = []
        self.signals: list[int] = []

    def run(
        self, command: str, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        self.timeouts.append(timeout)
        return super().run(command, timeout=timeout, on_output=on_output)

    def signal(self, pid: int, signal: int) -> SignalResult:
        self.signals.append(signal)
        return SignalResult(pid=pid, signal=signal, exited=False)


def test_timeouts_default_and_are_capped() -> None:
    terminal = RecordingTerminal()
    engine = Engine(
        MemoryFileSystem(), terminal, terminal_timeout=7, limits=Limits(max_terminal_timeout=100)
    )
    engine.execute_turn(
        [
            *command("terminal", b"x"),
            *command("terminal", b"x", timeout="5000"),
            *command("terminal", b"x", timeout="0.5"),
        ]
    )
    assert terminal.timeouts == [7.0, 100.0, 0.5]


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("SIGINT", 2),
        ("int", 2),
        ("TERM", 15),
        ("9", 9),
        ("SIGKILL", 9),
        ("SIGHUP", 1),
        ("SIGQUIT", 3),
        ("SIGUSR1", 10),
        ("sigusr2", 12),
    ],
)
def test_signal_names_and_numbers(name: str, number: int) -> None:
    terminal = RecordingTerminal()
    engine = Engine(MemoryFileSystem(), terminal)
    output = run_one(engine, command("terminal_signal", pid="1000", signal=name))
    assert terminal.signals == [number] and output.ok
    assert "still running" in output.render()


@pytest.mark.parametrize(
    ("body", "attributes", "message"),
    [
        (b"", {}, "the command is empty"),
        (b"  \n", {}, "the command is empty"),
        (b"ls", {"timeout": "soon"}, 'timeout="soon" is not a positive number'),
        (b"ls", {"timeout": "-1"}, "is not a positive number"),
        (b"ls", {"pid": "12"}, "either a command or pid"),
        (b"", {"pid": "abc"}, 'pid="abc" is not an integer'),
        (b"", {"pid": "4242"}, "pid 4242 is not a running process of this terminal"),
        (b"\xff\xfe", {}, "not valid UTF-8"),
    ],
)
def test_terminal_errors(body: bytes, attributes: dict[str, str], message: str) -> None:
    engine, _, _ = make_engine(scripts=SCRIPTS)
    output = run_one(engine, command("terminal", body, **attributes))
    assert not output.ok and output.error is not None and message in output.error


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"signal": "SIGINT"}, "missing attribute pid"),
        ({"pid": "1000"}, "missing attribute signal"),
        ({"pid": "1000", "signal": "SIGSTOP"}, 'signal="SIGSTOP" is not allowed'),
        ({"pid": "1000", "signal": "99"}, "is not allowed"),
        ({"pid": "77", "signal": "SIGINT"}, "unknown_process"),
    ],
)
def test_signal_errors(attributes: dict[str, str], message: str) -> None:
    engine, _, _ = make_engine(scripts=SCRIPTS)
    output = run_one(engine, command("terminal_signal", **attributes))
    assert not output.ok and output.error is not None and message in output.error


class LoudTerminal(ScriptedTerminal):
    def run(
        self, command: str, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        del command, timeout, on_output
        return RunResult(pid=5, head=b"H" * 300, tail=b"T" * 300, total_bytes=10_000, exit_code=0)


def test_huge_output_keeps_head_and_tail_and_reports_the_total() -> None:
    engine = Engine(MemoryFileSystem(), LoudTerminal(), limits=Limits(terminal_output_bytes=100))
    output = run_one(engine, command("terminal", b"yes"))
    assert isinstance(output, TerminalOutput)
    assert output.total_bytes == 10_000 and output.omitted_bytes == 9_900
    assert output.output == "H" * 50 + "\n[… 9900 bytes omitted …]\n" + "T" * 50
    assert "10000 bytes of output (9900 bytes omitted in the middle)" in output.render()


def test_contiguous_output_is_cut_in_the_middle() -> None:
    scripts = {"seq": ScriptedCommand(output=b"".join(b"%d\n" % n for n in range(100)))}
    engine, _, _ = make_engine(scripts=scripts, limits=Limits(terminal_output_bytes=20))
    output = run_one(engine, command("terminal", b"seq"))
    assert isinstance(output, TerminalOutput)
    assert output.output.startswith("0\n1\n2\n3\n4\n") and output.output.endswith("98\n99\n")
