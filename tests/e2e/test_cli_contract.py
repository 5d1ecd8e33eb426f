"""`sa3p run`'s contract: the `--json` line shapes, the text layout, and the exit codes
(0 whenever the stream was processed, failed commands included; non-zero only when sa3p itself
could not run)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import psutil
import pytest

from .e2e_support import PROCESS_SECONDS, SA3P, run_cli, run_cli_file

MIXED_REPLY = b"""Plan: write, read, list, run, and a few mistakes.
<write_file path="src/app.py">print("hi")
</write_file>
<read_file path="src/app.py"/>
<list_files path="."/>
<terminal>python3 src/app.py; exit 3</terminal>
<read_file path="missing.py"/>
<write_file path="../escape.txt">no</write_file>
<apply_edit path="src/app.py"><search>nope</search><replace>x</replace></apply_edit>
<terminal_signal pid="abc" signal="INT"/>
</terminal>
<write_file path="cut.txt">half
"""

COMMON_FIELDS = {"command", "ok", "error", "subject", "rendered"}


UNCONFINED_NOTICE = b"sa3p run: --sandbox none: the commands run unconfined, with your authority\n"


def test_json_lines_have_a_stable_shape(tmp_path: Path) -> None:
    run = run_cli(tmp_path, MIXED_REPLY, "--json")
    assert run.returncode == 0, run.stderr
    assert run.stderr == UNCONFINED_NOTICE  # the one line a run without a sandbox prints
    lines = run.stdout.decode().splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)
    outputs = run.outputs
    for output in outputs:
        if output["type"] == "notice":  # a problem of the markup: where, not whether
            assert {"code", "error", "line", "column"} <= set(output), output
            continue
        assert set(output) >= COMMON_FIELDS - {"error"}, output
        assert ("error" in output) != output["ok"]
        assert isinstance(output["rendered"], str) and output["rendered"].startswith("[")
    assert [(o["command"], o.get("ok", False)) for o in outputs] == [
        ("write_file", True),
        ("read_file", True),
        ("list_files", True),
        ("terminal", True),
        ("read_file", False),
        ("write_file", False),
        ("apply_edit", False),
        ("terminal_signal", False),
        ("terminal", False),
        ("write_file", False),
    ]
    write, read, listing, terminal = outputs[:4]
    content = (tmp_path / "src/app.py").read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    assert (write["path"], write["bytes_written"], write["sha256"], write["created"]) == (
        "src/app.py",
        len(content),
        digest,
        True,
    )
    assert read["sha256"] == digest and read["total_lines"] == 1 and read["served"] == [1, 1]
    assert "app.py" in listing["listing"]
    assert (terminal["exit_code"], terminal["output"], terminal["total_bytes"]) == (3, "hi\n", 3)
    assert isinstance(terminal["pid"], int) and isinstance(terminal["duration"], float)
    assert "not_found" in outputs[4]["error"]
    assert "outside" in outputs[5]["error"]
    assert "pid" in outputs[7]["error"]
    header = run.header
    assert set(header) == {"v", "type", "cwd", "recent_hashes", "active_pids", "rendered"}
    assert header["cwd"] == str(tmp_path)
    assert header["recent_hashes"] == [{"path": "src/app.py", "sha256": digest}]
    assert header["active_pids"] == []
    assert not (tmp_path.parent / "escape.txt").exists()
    assert not (tmp_path / "cut.txt").exists()


def test_text_output_is_what_the_model_sees(tmp_path: Path) -> None:
    (tmp_path / "j").mkdir()
    (tmp_path / "t").mkdir()
    as_json = run_cli(tmp_path / "j", MIXED_REPLY, "--json")
    as_text = run_cli(tmp_path / "t", MIXED_REPLY)
    assert as_text.returncode == 0
    text = as_text.stdout.decode()
    # One block per result, in order, separated by blank lines; the state header comes last.
    assert text.rstrip("\n").split("\n\n")[-1].startswith(f"[state]\ncwd: {tmp_path / 't'}\n")
    position = 0
    for output in as_json.outputs:
        first_line = output["rendered"].replace(str(tmp_path / "j"), str(tmp_path / "t"))
        first_line = first_line.splitlines()[0]
        if output["command"] == "terminal" and output.get("ok"):
            first_line = first_line.split(", ", 1)[0]  # the duration differs between runs
        found = text.index(first_line, position)
        assert text[found - 2 : found] == "\n\n" or found == 0
        position = found + len(first_line)


def test_failed_commands_still_exit_zero(tmp_path: Path) -> None:
    reply = b'<terminal>exit 7</terminal><read_file path="nope"/><bogus>'
    run = run_cli(tmp_path, reply)
    assert run.returncode == 0
    assert b"exit code 7" in run.stdout


def test_an_empty_reply_prints_only_the_header(tmp_path: Path) -> None:
    run = run_cli(tmp_path, b"", "--json")
    assert run.returncode == 0
    assert run.outputs == []
    assert run.header["active_pids"] == []


def test_a_reply_file_argument_works_like_stdin(tmp_path: Path) -> None:
    source = tmp_path / "reply.txt"
    source.write_bytes(b'<write_file path="a.txt">from a file</write_file>')
    (tmp_path / "ws").mkdir()
    run = run_cli_file(tmp_path / "ws", source, "--json")
    assert run.returncode == 0
    assert (tmp_path / "ws/a.txt").read_bytes() == b"from a file"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "/nonexistent/reply.txt", "--workspace", "{ws}"], 1, b"cannot read"),
        (["run", "--workspace", "{ws}/missing-dir"], 2, b"not a directory"),
        (["run", "--workspace", "{ws}", "--timeout", "soon"], 2, b"timeout"),
        (["run", "--workspace", "{ws}", "--timeout", "-1"], 2, b"timeout"),
        (["run", "--workspace", "{ws}", "--no-such-option"], 2, b"unrecognized"),
        (["launch"], 2, b"invalid choice"),
        ([], 2, b"required"),
    ],
)
def test_sa3p_itself_failing_exits_non_zero(
    tmp_path: Path, args: list[str], code: int, message: bytes
) -> None:
    done = subprocess.run(
        [*SA3P, *(arg.replace("{ws}", str(tmp_path)) for arg in args)],
        input=b"",
        capture_output=True,
        timeout=PROCESS_SECONDS,
        check=False,
    )
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert done.stdout == b""


def test_a_reader_that_goes_away_stops_sa3p_and_its_processes(tmp_path: Path) -> None:
    reply = (
        b'<terminal timeout="1">sleep 100</terminal>\n' + b"<terminal>seq 1 50000</terminal>\n" * 40
    )
    (tmp_path / "ws").mkdir()
    with (tmp_path / "stderr").open("wb") as errors:  # live output goes there: never a full pipe
        process = subprocess.Popen(  # one run, unconfined: host pids, ended with the run
            [*SA3P, "run", "--workspace", str(tmp_path / "ws"), "--ephemeral", "--sandbox", "none"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(reply)
    process.stdin.close()
    first = process.stdout.readline()
    pid = int(first.split(b"still running as pid ")[1].split()[0])
    process.stdout.close()  # the consumer of the results is gone
    assert process.wait(timeout=PROCESS_SECONDS) == 1
    assert b"output was closed" in (tmp_path / "stderr").read_bytes()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_prompt_describes_every_command() -> None:
    done = subprocess.run(
        [*SA3P, "prompt"], capture_output=True, timeout=PROCESS_SECONDS, check=True
    )
    text = done.stdout.decode()
    for command in ("write_file", "read_file", "apply_edit", "list_files", "terminal", "CDATA"):
        assert command in text


def test_a_file_name_that_is_not_utf8_is_listed_not_a_crash(tmp_path: Path) -> None:
    os.close(os.open(os.fsencode(tmp_path) + b"/bad\xffname", os.O_CREAT, 0o644))
    run = run_cli(tmp_path, b'<list_files/><write_file path="ok.txt">fine\n</write_file>', "--json")
    assert run.returncode == 0, run.stderr
    listing, written = run.outputs
    assert listing["ok"] and "bad\udcffname" in listing["listing"]
    assert written["ok"]
    text = run_cli(tmp_path, b"<list_files/>")
    assert text.returncode == 0 and b"bad\\udcffname" in text.stdout
