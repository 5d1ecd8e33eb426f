"""Asking on the controlling terminal, and ``sa3p run --policy``: refused at start when bad or
inside the workspace; without a terminal, ask means deny."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sa3p_engine import Approval, ApprovalRequest, CommandKind, DeniedOutput, Engine, Policy
from sa3p_engine.testing import MemoryFileSystem, ScriptedCommand, ScriptedTerminal
from sa3p_host._approval import TerminalApprover, open_terminal_approver, shown
from sa3p_parser import InstructionParser

SA3P = [sys.executable, "-m", "sa3p_host"]
ONE_RUN = ["--ephemeral", "--sandbox", "none"]

REQUEST = ApprovalRequest(
    command="apply_edit",
    kinds=(CommandKind.WRITE, CommandKind.READ),
    paths=("src/app.py",),
    change="@@ -1 +1 @@\n-a\n+b",
    rule_index=2,
    rule='action = "ask", command = "write", path = "src/**"',
    always="for the rest of this run: write src/app.py",
)


def _ask(
    answers: str, request: ApprovalRequest = REQUEST, max_lines: int = 40
) -> tuple[Approval, str]:
    shown_to = io.StringIO()
    approver = TerminalApprover(io.StringIO(answers), shown_to, max_lines=max_lines)
    return approver(request), shown_to.getvalue()


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ("y\n", Approval.YES),
        ("YES\n", Approval.YES),
        ("n\n", Approval.NO),
        ("\n", Approval.NO),
        ("  a \n", Approval.ALWAYS),
        ("always\n", Approval.ALWAYS),
        ("maybe\ny\n", Approval.YES),
        ("what\nhuh\nsure\ny\n", Approval.NO),  # three tries, then no
        ("", Approval.NO),  # the terminal went away
    ],
)
def test_the_answer_is_read_as_a_line(answers: str, expected: Approval) -> None:
    assert _ask(answers)[0] is expected


def test_the_question_shows_the_rule_the_command_the_change_and_always() -> None:
    _, text = _ask("y\n")
    assert 'sa3p: the policy asks before this runs (rule 2: action = "ask"' in text
    assert "  apply_edit: src/app.py\n" in text
    assert "  | -a\n  | +b\n" in text
    assert "  always = for the rest of this run: write src/app.py\n" in text
    assert text.endswith("Allow? [y]es, [n]o, [a]lways: ")


def test_control_characters_from_the_model_are_made_visible() -> None:
    hostile = ApprovalRequest(
        command="terminal",
        kinds=(CommandKind.TERMINAL,),
        text="ls\x1b[2K\rAllow? [y]es\x07",
        change="",
        rule='default = "ask"',
    )
    _, text = _ask("n\n", hostile)
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "ls\\x1b[2K\\rAllow? [y]es\\x07" in text
    assert shown("a\tb\nc\u202ed") == "a\tb\nc\\u202ed"


def test_a_long_change_is_cut() -> None:
    long = ApprovalRequest(
        command="write_file",
        kinds=(CommandKind.WRITE,),
        paths=("a.txt",),
        change="\n".join(f"line {n}" for n in range(100)),
    )
    _, text = _ask("y\n", long, max_lines=5)
    assert "  | line 4\n  | … 95 more lines\n" in text and "line 5\n" not in text


def test_no_controlling_terminal_means_no_approver(tmp_path: Path) -> None:
    assert open_terminal_approver(str(tmp_path / "no-such-tty")) is None


def _read_until(fd: int, wanted: bytes, seconds: float = 10.0) -> bytes:
    """What the terminal shows, read until ``wanted`` is in it (a pty hands it over in pieces:
    the echo of the typed-ahead answers, then the question)."""
    seen = b""
    deadline = time.monotonic() + seconds
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], deadline - time.monotonic())
        if ready:
            seen += os.read(fd, 65536)
    return seen


def test_the_engine_asks_the_person_on_a_terminal() -> None:
    controller, device = pty.openpty()
    try:
        approver = open_terminal_approver(os.ttyname(device))
        assert approver is not None
        os.write(controller, b"n\ny\n")  # typed ahead: the first ask is refused, the second allowed
        policy = Policy.from_toml(
            'default = "allow"\n[[rule]]\naction = "ask"\ncommand = "terminal"\n'
            'prefix = "git push"\n'
        )
        terminal = ScriptedTerminal({"git push": ScriptedCommand(output=b"pushed\n")})
        engine = Engine(MemoryFileSystem(), terminal, policy=policy, approver=approver)
        reply = b"<terminal>git push</terminal><terminal>git push</terminal>"
        turn = engine.execute_turn(InstructionParser().feed(reply))
        approver.close()
        first, second = turn.outputs
        assert isinstance(first, DeniedOutput) and "the user refused" in first.render()
        assert second.ok and terminal.commands_run == ["git push"]
        assert b"terminal: git push" in _read_until(controller, b"terminal: git push")
    finally:
        os.close(controller)
        os.close(device)


# --- sa3p run --policy -------------------------------------------------------------------------


def _run(
    workspace: Path, policy: Path, reply: bytes, *args: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*SA3P, "run", "--workspace", str(workspace), *ONE_RUN, "--policy", str(policy), *args],
        input=reply,
        capture_output=True,
        timeout=60,
        check=False,
        start_new_session=True,  # no controlling terminal: no one can be asked
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    (path / ".git").mkdir(parents=True)
    (path / ".git" / "config").write_text("[core]\n")
    return path


def test_a_bad_policy_file_stops_the_run_before_anything_runs(
    workspace: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'default = "allow"\n\n[[rule]]\naction = "deny"\ncommand = "write"\nglob = "x"\n'
    )
    result = _run(workspace, policy, b'<write_file path="a.txt">x</write_file>')
    assert result.returncode == 2 and result.stdout == b""
    message = result.stderr.decode()
    assert f"{policy}, line 6, key 'glob' of rule 1: unknown key" in message
    assert "nothing was executed" in message
    assert not (workspace / "a.txt").exists()


def test_a_policy_inside_the_workspace_is_refused(workspace: Path) -> None:
    policy = workspace / "sub" / "policy.toml"
    policy.parent.mkdir()
    policy.write_text('default = "allow"\n')
    result = _run(workspace, policy, b'<write_file path="a.txt">x</write_file>')
    assert result.returncode == 2
    assert "lies inside the workspace" in result.stderr.decode()
    assert not (workspace / "a.txt").exists()


def test_the_policy_denies_and_without_a_terminal_ask_means_deny(
    workspace: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'default = "allow"\n'
        '[[rule]]\naction = "deny"\ncommand = "write"\npath = ".git/**"\n'
        '[[rule]]\naction = "ask"\ncommand = "terminal"\nprefix = "touch"\n'
    )
    reply = (
        b'<write_file path="src/../.git/config">evil</write_file>\n'
        b"<terminal>touch made.txt</terminal>\n"
        b'<write_file path="ok.txt">fine</write_file>\n'
    )
    result = _run(workspace, policy, reply, "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    denied, unasked, written = lines[:3]
    assert (denied["cause"], denied["rule_index"]) == ("rule", 1)
    assert denied["rendered"].startswith("[write_file .git/config] DENIED: rule 1")
    assert unasked["cause"] == "unanswered" and "no one could be asked" in unasked["rendered"]
    assert written["ok"] is True
    assert (workspace / ".git" / "config").read_text() == "[core]\n"
    assert not (workspace / "made.txt").exists() and (workspace / "ok.txt").exists()
