"""The `sa3p run --json` contract: every line of real runs, local and remote, validates against
the schema `sa3p schema` prints; exit statuses 0, 1 (a lost guest) and 2."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sa3p_engine import (
    ApplyEditOutput,
    ApplyPatchOutput,
    CommandOutput,
    ListFilesOutput,
    ReadFileOutput,
    SignalOutput,
    TerminalOutput,
    WriteFileOutput,
)
from sa3p_host._json_schema import COMMAND_FIELDS, run_json_schema

from ..remote.helpers import short_socket_path, spawn_guest_process

SA3P = [sys.executable, "-m", "sa3p_host"]
SECONDS = 60.0
VALIDATOR = Draft202012Validator(run_json_schema())

POLICY = 'default = "allow"\n[[rule]]\naction = "deny"\ncommand = "terminal"\nprefix = "rm "\n'
REPLY = (
    b'<write_file path="a.txt">hello\n</write_file>\n'
    b"<terminal>printf 'one\\n'; sleep 0.3; printf '\\033[1mtwo\\033[0m\\n'</terminal>\n"
    b"<terminal>rm -rf build</terminal>\n"
    b"```\n<terminal>ls</terminal>\n```\n"
    b"</read_file>\n"
    b'<read_file path="missing.txt"/>\n'
    b'<apply_edit path="a.txt"><search>hello</search><replace>hello\nworld</replace></apply_edit>\n'
    b"<list_files/>\n"
)
"""A write, a terminal command printing in two steps (with escape sequences), one the policy
denies, one quoted in markdown, a stray close tag (a notice), a failure, an edit, a listing."""


def validated(stdout: bytes) -> list[dict[str, Any]]:
    """Every line of ``stdout``, each checked against the schema."""
    lines = [json.loads(line) for line in stdout.decode("utf-8").splitlines()]
    for line in lines:
        VALIDATOR.validate(line)
    assert lines and lines[-1]["type"] == "state"
    assert [line["type"] for line in lines].count("state") == 1
    return lines


def run(
    *args: str, reply: bytes = REPLY, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*SA3P, "run", "--json", *args],
        input=reply,
        capture_output=True,
        timeout=SECONDS,
        cwd=cwd,
        check=False,
    )


def check_mixed_run(lines: list[dict[str, Any]]) -> None:
    """What ``REPLY`` gives, wherever it ran."""
    assert {line["type"] for line in lines} == {"result", "notice", "output", "state"}
    results = [line for line in lines if line["type"] == "result"]
    assert [(r["command"], r["status"]) for r in results] == [
        ("write_file", "ok"),
        ("terminal", "ok"),
        ("terminal", "denied"),
        ("terminal", "quoted"),
        ("read_file", "failed"),
        ("apply_edit", "ok"),
        ("list_files", "ok"),
    ]
    denied, quoted, failed = results[2], results[3], results[4]
    assert (denied["code"], denied["subject"]) == ("denied", "rm -rf build")
    assert quoted["code"] == "quoted"
    assert (failed["code"], failed["line"]) == ("not_found", 9)
    (notice,) = (line for line in lines if line["type"] == "notice")
    assert (notice["code"], notice["line"], notice["column"]) == ("misplaced_tag", 8, 1)
    # Live output comes before its result, raw; the result the model reads is clean.
    terminal_at = lines.index(results[1])
    live = [line for line in lines[:terminal_at] if line["type"] == "output"]
    assert "".join(line["text"] for line in live) == "one\n\x1b[1mtwo\x1b[0m\n"
    assert {line["subject"] for line in live} == {results[1]["subject"]}
    assert results[1]["output"] == "one\ntwo\n"
    # Hashes: whole in JSON, 16 hex digits in the text the model reads.
    written = results[0]
    assert len(written["sha256"]) == 64
    assert f"sha256 {written['sha256'][:16]}" in written["rendered"]
    assert written["sha256"] not in written["rendered"]
    # A one-line insertion is one added line.
    edit = results[5]
    assert edit["diff"].splitlines()[1:] == [" hello", "+world"]


@pytest.fixture
def policy(tmp_path: Path) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return str(path)


def test_the_schema_is_a_draft_2020_12_schema_and_sa3p_schema_prints_it() -> None:
    Draft202012Validator.check_schema(run_json_schema())
    done = subprocess.run([*SA3P, "schema"], capture_output=True, timeout=SECONDS, check=True)
    assert json.loads(done.stdout) == run_json_schema()


def test_the_schema_names_every_field_of_every_output() -> None:
    classes: dict[str, type[CommandOutput]] = {
        "write_file": WriteFileOutput,
        "read_file": ReadFileOutput,
        "list_files": ListFilesOutput,
        "terminal": TerminalOutput,
        "terminal_signal": SignalOutput,
        "apply_edit": ApplyEditOutput,
        "apply_patch": ApplyPatchOutput,
    }
    shared = {field.name for field in dataclasses.fields(CommandOutput)}
    for command, cls in classes.items():
        own = {field.name for field in dataclasses.fields(cls)} - shared
        assert own == set(COMMAND_FIELDS[command]), command


def test_every_line_of_a_local_run_validates(tmp_path: Path, policy: str) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    args = ["--workspace", str(workspace), "--ephemeral", "--sandbox", "none", "--policy", policy]
    done = run(*args)
    assert done.returncode == 0, done.stderr
    check_mixed_run(validated(done.stdout))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    workspace = tmp_path / "served"
    workspace.mkdir()
    address = f"unix:{short_socket_path()}"
    guest = spawn_guest_process(address, workspace)
    try:
        yield address, guest
    finally:
        guest.kill()
        guest.wait(timeout=SECONDS)
        if guest.stderr is not None:
            guest.stderr.close()


def test_every_line_of_a_remote_run_validates(
    served: tuple[str, subprocess.Popen[bytes]], policy: str
) -> None:
    address, _ = served
    done = run("--connect", address, "--policy", policy)
    assert done.returncode == 0, done.stderr
    check_mixed_run(validated(done.stdout))


def test_a_lost_guest_exits_1_and_says_what_ran_and_what_did_not(
    served: tuple[str, subprocess.Popen[bytes]],
) -> None:
    address, guest = served
    reply = (
        b'<write_file path="kept.txt">x</write_file>'
        b"<terminal>kill -9 $PPID</terminal>"  # the shell's parent is the guest
        b'<read_file path="kept.txt"/><list_files/>'
    )
    done = run("--connect", address, reply=reply)
    assert done.returncode == 1
    assert guest.wait(timeout=SECONDS) == -9
    results = [line for line in validated(done.stdout) if line["type"] == "result"]
    assert [(r["command"], r["status"], r.get("code")) for r in results] == [
        ("write_file", "ok", None),
        ("terminal", "failed", "connection_lost"),
        ("read_file", "failed", "connection_lost"),
        ("list_files", "failed", "connection_lost"),
    ]
    said = done.stderr.decode()
    assert "the guest was lost during <terminal> (line 1)" in said
    assert "the 1 results before it are complete" in said
    assert "the 2 commands after it did not run" in said


def test_failed_denied_and_quoted_commands_exit_0(tmp_path: Path, policy: str) -> None:
    reply = b'<read_file path="nope"/><terminal>rm x</terminal>`<terminal>ls</terminal>`'
    (tmp_path / "ws").mkdir()
    args = ["--workspace", str(tmp_path / "ws"), "--ephemeral", "--sandbox", "none"]
    args += ["--policy", policy]
    done = run(*args, reply=reply)
    assert done.returncode == 0, done.stderr
    statuses = [line["status"] for line in validated(done.stdout) if line["type"] == "result"]
    assert statuses == ["failed", "denied", "quoted"]


@pytest.mark.parametrize(
    "args",
    [
        ["--json"],  # neither --workspace nor --connect
        ["--workspace", ".", "--timeout", "-1"],
        ["--workspace", ".", "--policy", "{policy}"],
    ],
)
def test_usage_errors_exit_2_and_run_nothing(tmp_path: Path, args: list[str]) -> None:
    bad_policy = tmp_path / "bad.toml"
    bad_policy.write_text('default = "maybe"\n')
    workspace = tmp_path / "ws"
    workspace.mkdir()
    args = [arg.replace("{policy}", str(bad_policy)) for arg in args]
    done = subprocess.run(
        [*SA3P, "run", *args],
        input=b'<write_file path="ran.txt">x</write_file>',
        capture_output=True,
        timeout=SECONDS,
        cwd=workspace,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == b"" and not (workspace / "ran.txt").exists()
