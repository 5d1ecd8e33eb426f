"""REFERENCE items 14 and 15: commands that never end, wait for input, or flood their output.

14. a prompt or a long-running command must not hang the agent: stdin is closed, a command past
its timeout is detached with its pid in the state header, and terminal_signal ends it;
15. huge output stays bounded (head + tail + total) and the tail is kept.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psutil

from sa3p_engine import SignalOutput, TerminalOutput

from .e2e_support import (
    PROCESS_SECONDS,
    next_record,
    run_cli,
    run_cli_measured,
    run_in_process,
    start_cli,
)

SHOWN_BYTES = 20_000  # Limits().terminal_output_bytes
MARKER_ROOM = 100  # the "[… N bytes omitted …]" line between head and tail


# --- 14 ----------------------------------------------------------------------------------------


def test_prompts_read_end_of_input_instead_of_hanging(tmp_path: Path) -> None:
    reply = (
        b"Let me run the installer.\n"
        b'<terminal timeout="60">read -p "Overwrite config? [y/N] " answer; '
        b'echo "answer=${answer:-none}"</terminal>\n'
        b'<terminal timeout="60">python3 -c "input(\'Continue? [y/N] \')"</terminal>\n'
        b'<terminal timeout="60">cat; echo "cat ended"</terminal>\n'
    )
    run = run_cli(tmp_path, reply, "--json")
    assert run.returncode == 0, run.stderr
    shell, python, cat = run.outputs
    assert (shell["exit_code"], shell["output"]) == (0, "answer=none\n")
    assert python["exit_code"] == 1 and "EOFError" in python["output"]
    assert (cat["exit_code"], cat["output"]) == (0, "cat ended\n")
    assert run.header["active_pids"] == []


def test_a_prompt_does_not_read_the_model_reply_from_stdin(tmp_path: Path) -> None:
    # `sa3p run` reads the reply on its stdin; a command must never consume the rest of it.
    reply = (
        b'<terminal>read line; echo "read=[$line]"</terminal>\n'
        b'<write_file path="after.txt">still here</write_file>\n'
    )
    run = run_cli(tmp_path, reply, "--json")
    terminal, write = run.outputs
    assert terminal["output"] == "read=[]\n"
    assert write["ok"]
    assert (tmp_path / "after.txt").read_bytes() == b"still here"


def _send(process: subprocess.Popen[bytes], text: str) -> None:
    assert process.stdin is not None
    process.stdin.write(text.encode())
    process.stdin.flush()


def test_detached_commands_are_listed_signalled_and_ended_through_the_cli(
    tmp_path: Path,
) -> None:
    # one run, unconfined: host pids, ended with the run
    process = start_cli(tmp_path, "--json", "--ephemeral", "--sandbox", "none")
    try:
        _send(process, 'Starting the dev server.\n<terminal timeout="1">sleep 100</terminal>\n')
        first = next_record(process)
        _send(process, '<terminal timeout="1">echo serving; sleep 200</terminal>\n')
        second = next_record(process)
        for record in (first, second):
            assert (record["ok"], record["exit_code"]) == (True, None)
            assert f'<terminal_signal pid="{record["pid"]}"' in record["rendered"]
            assert psutil.pid_exists(record["pid"])
        assert second["output"] == "serving\n"
        # SIGTERM, not SIGINT: a test run started in the background by a non-interactive shell
        # inherits SIGINT ignored, and so would `sleep` (bash cannot reset an inherited ignore).
        _send(process, f'Stop the first.\n<terminal_signal pid="{first["pid"]}" signal="TERM"/>\n')
        signalled = next_record(process)
        assert (signalled["command"], signalled["ok"], signalled["exited"]) == (
            "terminal_signal",
            True,
            True,
        )
        assert signalled["exit_code"] == -15
        stdout, _ = process.communicate(timeout=PROCESS_SECONDS)  # closes stdin: end of reply
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    header = json.loads(stdout.decode().splitlines()[-1])
    assert header["active_pids"] == [second["pid"]]
    assert process.returncode == 0
    assert not psutil.pid_exists(second["pid"])  # sa3p ended what it started when it finished


def test_a_never_ending_command_is_detached_with_its_pid_in_the_header(tmp_path: Path) -> None:
    run = run_in_process(tmp_path, [b'<terminal timeout="1">echo waiting; sleep 100</terminal>'])
    (started,) = run.turn.outputs
    assert isinstance(started, TerminalOutput) and started.running
    assert started.output == "waiting\n"
    assert run.turn.state_header.active_pids == [started.pid]
    assert f"still running as pid {started.pid}" in started.render()
    assert "[state]" in run.turn.render() and f"active pids: {started.pid}" in run.turn.render()
    # the engine closed at the end of run_in_process: the process is gone
    assert not psutil.pid_exists(started.pid) or psutil.Process(started.pid).status() == "zombie"


def test_signal_ends_a_detached_command_within_one_turn(tmp_path: Path) -> None:
    from sa3p_engine import Engine
    from sa3p_host import LocalTerminal, LocalVfs
    from sa3p_parser import InstructionParser

    parser = InstructionParser()
    with Engine(LocalVfs(tmp_path), LocalTerminal(tmp_path)) as engine:
        (started,) = [
            output
            for instruction in parser.feed('<terminal timeout="1">sleep 100</terminal>')
            for output in engine.feed(instruction)
        ]
        assert isinstance(started, TerminalOutput) and started.running
        assert engine.state_header().active_pids == [started.pid]
        outputs = [
            output
            for instruction in parser.feed(
                f'<terminal pid="{started.pid}" timeout="0.2"/>'
                f'<terminal_signal pid="{started.pid}" signal="SIGTERM"/>'
                '<terminal_signal pid="1" signal="SIGKILL"/>'
            )
            for output in engine.feed(instruction)
        ]
        polled, signalled, refused = outputs
        assert isinstance(polled, TerminalOutput) and polled.running and polled.polled
        assert isinstance(signalled, SignalOutput) and signalled.exited
        assert not refused.ok and "1" in (refused.error or "")
        assert engine.state_header().active_pids == []
    assert psutil.pid_exists(1)


def test_a_backgrounded_server_is_listed_in_active_pids(tmp_path: Path) -> None:
    run = run_in_process(tmp_path, [b'<terminal timeout="5">sleep 100 & echo started</terminal>'])
    (started,) = run.turn.outputs
    assert isinstance(started, TerminalOutput)
    assert run.turn.state_header.active_pids == [started.pid]


def test_a_backgrounded_server_can_still_be_signalled_and_is_ended_at_close(
    tmp_path: Path,
) -> None:
    reply = b'<terminal timeout="5">sleep 100 & echo $! > server.pid; echo started</terminal>'
    run = run_in_process(tmp_path, [reply])
    (started,) = run.turn.outputs
    assert isinstance(started, TerminalOutput) and started.output == "started\n"
    server = int((tmp_path / "server.pid").read_text())
    assert not psutil.pid_exists(server) or psutil.Process(server).status() == "zombie"


# --- 15 ----------------------------------------------------------------------------------------


def test_fifty_megabytes_of_output_stay_bounded(tmp_path: Path) -> None:
    reply = tmp_path / "reply.txt"
    reply.write_bytes(
        b'<terminal timeout="120">yes | head -c 50000000; echo; echo "the end"</terminal>'
    )
    (tmp_path / "ws").mkdir()
    run, maxrss_kib = run_cli_measured(tmp_path / "ws", reply)
    assert run.returncode == 0
    (output,) = run.outputs
    assert run.header["active_pids"] == []
    assert output["exit_code"] == 0
    assert output["total_bytes"] == 50_000_000 + 1 + len("the end\n")
    assert len(output["output"].encode()) <= SHOWN_BYTES + MARKER_ROOM
    assert output["output"].startswith("y\ny\n")
    assert output["output"].endswith("y\n\nthe end\n")  # the useful tail is kept
    assert "bytes omitted" in output["output"]
    assert output["omitted_bytes"] >= 50_000_000 - SHOWN_BYTES
    # `sa3p run` peaks near 22 MiB here; holding the 50 MB output would take it past 72 MiB.
    assert maxrss_kib < 64 * 1024, "sa3p run's memory grew with the command's output"


def test_a_flood_past_its_timeout_is_bounded_and_can_be_stopped(tmp_path: Path) -> None:
    from sa3p_engine import Engine
    from sa3p_host import LocalTerminal, LocalVfs
    from sa3p_parser import InstructionParser

    parser = InstructionParser()
    with Engine(LocalVfs(tmp_path), LocalTerminal(tmp_path)) as engine:
        (flood,) = [
            output
            for instruction in parser.feed('<terminal timeout="2">yes</terminal>')
            for output in engine.feed(instruction)
        ]
        assert isinstance(flood, TerminalOutput) and flood.running
        assert flood.total_bytes > SHOWN_BYTES
        assert len(flood.output.encode()) <= SHOWN_BYTES + MARKER_ROOM
        assert f"{flood.total_bytes} bytes of output" in flood.render()
        polled, stopped = [
            output
            for instruction in parser.feed(
                f'<terminal pid="{flood.pid}" timeout="0.2"/>'
                f'<terminal_signal pid="{flood.pid}" signal="KILL"/>'
            )
            for output in engine.feed(instruction)
        ]
        assert isinstance(polled, TerminalOutput)
        assert len(polled.output.encode()) <= SHOWN_BYTES + MARKER_ROOM
        assert isinstance(stopped, SignalOutput) and stopped.exited
        assert stopped.exit_code == -9
        assert engine.state_header().active_pids == []


def test_the_tail_of_a_long_log_is_kept(tmp_path: Path) -> None:
    run = run_cli(
        tmp_path, b"<terminal>seq 1 300000; echo FAILED: test_last >&2</terminal>", "--json"
    )
    (output,) = run.outputs
    assert output["output"].startswith("1\n2\n3\n")
    assert output["output"].endswith("299999\n300000\nFAILED: test_last\n")
    assert output["omitted_bytes"] > 0
