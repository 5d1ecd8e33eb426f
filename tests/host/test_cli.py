"""`sa3p run` / `sa3p prompt` end to end, as separate processes reading real pipes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from sa3p_host import LocalVfs

from ..e2e.e2e_support import next_record, start_cli
from ..waiting import wait_until
from .host_helpers import staged_bytes

SA3P = [sys.executable, "-m", "sa3p_host"]
ONE_RUN = ["--ephemeral", "--sandbox", "none"]
"""Today's one-run behaviour: in-process backends, host pids, every process ended with the run."""


def test_commands_run_as_they_arrive_while_stdin_stays_open(tmp_path: Path) -> None:
    process = start_cli(tmp_path, "--json")
    assert process.stdin is not None
    try:
        process.stdin.write(b'Some prose first.\n<write_file path="a.txt">hello</write_file>\n')
        process.stdin.flush()
        first = next_record(process)
        assert (first["command"], first["ok"], first["path"]) == ("write_file", True, "a.txt")
        assert (tmp_path / "a.txt").read_bytes() == b"hello"
        process.stdin.write(b"<terminal>cat a.txt</terminal>")
        process.stdin.flush()
        second = next_record(process)
        assert (second["command"], second["output"]) == ("terminal", "hello")
        assert process.poll() is None  # still reading: stdin is open
    finally:
        process.stdin.close()
    assert process.wait(timeout=20) == 0
    assert process.stdout is not None
    last = json.loads(process.stdout.read().splitlines()[-1])
    assert last["type"] == "state" and last["recent_hashes"][0]["path"] == "a.txt"


def test_sigkill_in_the_middle_of_a_streamed_write_leaves_the_old_file(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"old content")
    process = start_cli(tmp_path, *ONE_RUN)  # the write is staged by this very process
    assert process.stdin is not None
    process.stdin.write(b'<write_file path="big.txt">' + b"x" * (4 << 20))
    process.stdin.flush()

    wait_until(lambda: staged_bytes(process.pid, str(tmp_path)) > 0, 20, "the write staged")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=20)
    process.stdin.close()
    assert (tmp_path / "big.txt").read_bytes() == b"old content"
    assert [n.path for n in LocalVfs(tmp_path).list_tree("")] == ["big.txt"]
    assert os.listdir(tmp_path) == ["big.txt"]


def test_sigterm_ends_every_process_it_started(tmp_path: Path) -> None:
    process = start_cli(tmp_path, "--json", *ONE_RUN)
    assert process.stdin is not None
    process.stdin.write(b'<terminal timeout="0.3">sleep 60</terminal>')
    process.stdin.flush()
    detached = next_record(process)
    assert detached["exit_code"] is None
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 1
    process.stdin.close()
    wait_until(lambda: not psutil.pid_exists(detached["pid"]), 20, "the detached process ended")


def test_cut_off_write_writes_nothing_and_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SA3P, "run", "--workspace", str(tmp_path), "--json"],
        input=b'<write_file path="half.txt">partial content',
        capture_output=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["ok"] is False and lines[0]["error"]
    assert lines[-1]["type"] == "state"
    assert not (tmp_path / "half.txt").exists()


def test_text_output_shows_results_then_state(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SA3P, "run", "-", "--workspace", str(tmp_path)],
        input=b"<terminal>echo hi</terminal> and an `<terminal>echo quoted</terminal>`",
        capture_output=True,
        timeout=60,
        check=True,
    )
    text = result.stdout.decode()
    assert text.startswith("[terminal echo hi] exit code 0")
    assert "[notice] <terminal>" in text  # the in-band problem (a quoted command) is shown
    assert "echo quoted" not in text.split("[notice]")[0]
    assert "\n\n\n" not in text
    assert "\n[state]\ncwd: " in text


@pytest.mark.parametrize(
    ("arguments", "status"),
    [
        (["run", "/no/such/file", "--workspace", "."], 1),
        (["run", "-"], 2),  # no --workspace: never a silent default
        (["run", "--timeout", "0"], 2),
        (["run", "--timeout", "soon"], 2),
        (["run", "--workspace", "/no/such/dir"], 2),
        (["bogus"], 2),
        ([], 2),
    ],
)
def test_exit_status(arguments: list[str], status: int, tmp_path: Path) -> None:
    result = subprocess.run(
        [*SA3P, *arguments],
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == status
    assert result.stderr


def test_prompt_prints_the_system_prompt() -> None:
    result = subprocess.run([*SA3P, "prompt"], capture_output=True, timeout=60, check=True)
    assert b"<write_file" in result.stdout and b"apply_edit" in result.stdout


def test_prompt_into_a_closed_pipe_exits_without_a_traceback() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `sa3p prompt | head -1`, with head already gone
    try:
        result = subprocess.run(
            [*SA3P, "prompt"], stdout=write_end, stderr=subprocess.PIPE, timeout=60, check=False
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr


def test_closed_output_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*SA3P, "run", "--workspace", str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdout.close()  # the reader goes away before the first result
    _, stderr = process.communicate(b"<terminal>echo one</terminal>" * 50, timeout=60)
    assert process.returncode == 1
    assert b"output was closed" in stderr and b"Traceback" not in stderr


def test_an_ephemeral_run_detaches_at_its_timeout_and_ends_what_it_started(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [*SA3P, "run", "--workspace", ".", "--json", "--timeout", "0.3", *ONE_RUN],
        input=b'<write_file path="here.txt">x</write_file><terminal>sleep 30</terminal>',
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    lines = [line for line in lines if line["type"] != "output"]
    assert (tmp_path / "here.txt").read_bytes() == b"x"
    terminal = lines[1]
    assert terminal["exit_code"] is None and terminal["timeout"] == 0.3
    assert lines[-1]["active_pids"] == [terminal["pid"]]
    ended = "the terminal process ended when sa3p run ended"
    wait_until(lambda: not psutil.pid_exists(terminal["pid"]), 20, ended)


def test_version() -> None:
    done = subprocess.run([*SA3P, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("sa3p ") and done.stdout.strip().split()[1][0].isdigit()


@pytest.mark.parametrize(
    "entry",
    ["import sa3p_host; sys.exit(sa3p_host.main())", "import runpy; runpy.run_module('sa3p_host')"],
    ids=["console-script", "python-m"],
)
def test_windows_gets_one_clear_line_not_an_import_crash(entry: str) -> None:
    script = f"import sys; sys.platform = 'win32'; {entry}"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith("sa3p: sa3p runs on Linux (macOS: untested); Windows is not")
    assert done.stderr.count("\n") == 1 and "WSL2" in done.stderr and not done.stdout
