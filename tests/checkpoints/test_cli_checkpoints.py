"""``sa3p history`` and ``sa3p undo`` after real ``sa3p run`` processes: every change a turn
made (its commands', the model's edits) is undone to the exact bytes and modes."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from sa3p_host._checkpoints import store_directory

from ..waiting import wait_until
from .checkpoint_support import SA3P, run_reply, sa3p, snapshot

TURN_ONE = """I'll make the changes.
<write_file path="new.txt">fresh
</write_file>
<write_file path="tool.sh">#!/bin/sh
echo changed
</write_file>
<apply_edit path="app.py"><search>hi</search><replace>bye</replace></apply_edit>
<terminal>rm data.bin && mv old.txt moved.txt && chmod 700 moved.txt \
  && mkdir -p a/b && echo x > a/b/c.txt</terminal>
"""


def _populate(workspace: Path) -> None:
    files = {
        "app.py": (b"print('hi')\r\n\x00no newline at the end", 0o644),
        "tool.sh": (b"#!/bin/sh\necho tool\n", 0o755),
        "data.bin": (bytes(range(256)) * 3, 0o600),
        "old.txt": (b"old\n", 0o640),
    }
    for name, (content, mode) in files.items():
        (workspace / name).write_bytes(content)
        (workspace / name).chmod(mode)


def test_undo_restores_what_edits_and_commands_changed_exactly(workspace: Path) -> None:
    _populate(workspace)
    before = snapshot(workspace)
    results = run_reply(workspace, TURN_ONE)
    assert all(item.get("ok", True) for item in results[:-1]), results
    after = snapshot(workspace)
    assert {"new.txt", "moved.txt", "a/b/c.txt"} <= after.keys()
    assert "data.bin" not in after and "old.txt" not in after
    assert after["tool.sh"][1] == 0o755  # a write keeps the mode

    done = sa3p("undo", "--workspace", str(workspace))
    assert "recorded as turn 2" in done.stdout
    assert snapshot(workspace) == before  # bytes, modes; created files (and a/b) removed
    assert not (workspace / "a").exists()

    sa3p("undo", "--workspace", str(workspace))  # the undo of the undo
    assert snapshot(workspace) == after


def test_history_lists_turns_commands_and_files(workspace: Path) -> None:
    _populate(workspace)
    run_reply(workspace, TURN_ONE)
    sa3p("undo", "--workspace", str(workspace))
    shown = sa3p("history", "--workspace", str(workspace)).stdout
    first, second = shown.split("\nturn 2 ")
    assert first.startswith("turn 1 ") and "7 files changed" in first.splitlines()[0]
    for line in (
        "ran       write_file new.txt",
        "ran       apply_edit app.py",
        "ran       terminal rm data.bin && mv old.txt moved.txt",
        "created   a/b/c.txt",
        "created   moved.txt",
        "created   new.txt",
        "modified  app.py",
        "modified  tool.sh",
        "deleted   data.bin",
        "deleted   old.txt",
    ):
        assert any(text.strip().startswith(line.strip()) for text in first.splitlines()), line
    assert "undoing turn 1 and later" in second and "ran       undo --turn 1" in second


def test_a_turn_that_changed_nothing_records_nothing(workspace: Path) -> None:
    (workspace / "a.txt").write_text("a\n")
    run_reply(workspace, '<read_file path="a.txt"/><terminal>cat a.txt; true</terminal>')
    shown = sa3p("history", "--workspace", str(workspace)).stdout
    assert shown.startswith("sa3p history: no turn is recorded")
    refused = sa3p("undo", "--workspace", str(workspace), check=False)
    assert refused.returncode == 1 and "nothing to undo" in refused.stderr


def test_undo_of_turn_n_restores_n_and_after_and_keeps_earlier_turns(workspace: Path) -> None:
    (workspace / "shared.txt").write_text("0\n")
    states = [snapshot(workspace)]
    for turn in (1, 2, 3):
        run_reply(
            workspace,
            f"<terminal>echo {turn} > shared.txt; echo {turn} > only{turn}.txt</terminal>",
        )
        states.append(snapshot(workspace))
    sa3p("undo", "--workspace", str(workspace), "--turn", "2")
    assert snapshot(workspace) == states[1]  # as after turn 1: before turn 2
    missing = sa3p("undo", "--workspace", str(workspace), "--turn", "99", check=False)
    assert missing.returncode == 1
    assert "there is no turn 99 (turns 1-4 are kept" in missing.stderr


def test_gitignored_files_are_neither_recorded_nor_touched(workspace: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=workspace, check=True)
    (workspace / ".gitignore").write_text("build/\n*.log\n")
    (workspace / "y.log").write_text("old log\n")
    run_reply(
        workspace,
        "<terminal>mkdir build && echo o > build/out.o && echo new > x.log "
        "&& echo changed > y.log && echo kept > kept.txt</terminal>",
    )
    shown = sa3p("history", "--workspace", str(workspace)).stdout
    files = [
        line.split()[-1] for line in shown.splitlines() if not line.startswith(("turn", "  ran"))
    ]
    assert files == ["kept.txt"]
    sa3p("undo", "--workspace", str(workspace))
    assert not (workspace / "kept.txt").exists()
    assert (workspace / "build" / "out.o").read_text() == "o\n"
    assert (workspace / "x.log").read_text() == "new\n"
    assert (workspace / "y.log").read_text() == "changed\n"


def test_symlinks_are_recorded_and_restored_as_links(workspace: Path) -> None:
    (workspace / "target.txt").write_text("t\n")
    (workspace / "old-link").symlink_to("target.txt")
    before = snapshot(workspace)
    run_reply(
        workspace,
        "<terminal>ln -s target.txt new-link && rm old-link && ln -s /etc/passwd outside "
        "&& ln -s missing dangling</terminal>",
    )
    shown = sa3p("history", "--workspace", str(workspace)).stdout
    assert "created   outside" in shown and "deleted   old-link" in shown
    sa3p("undo", "--workspace", str(workspace))
    assert snapshot(workspace) == before
    assert os.readlink(workspace / "old-link") == "target.txt"


def test_undo_is_refused_while_a_run_holds_the_workspace(workspace: Path) -> None:
    (workspace / "a.txt").write_text("a\n")
    run_reply(workspace, "<terminal>echo b > a.txt</terminal>")
    command = [*SA3P, "run", "--workspace", str(workspace), "--ephemeral", "--sandbox", "none"]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as running:
        assert running.stdin is not None
        wait_until(lambda: _lock_held(workspace), seconds=60, what="the run to begin its turn")
        refused = sa3p("undo", "--workspace", str(workspace), check=False)
        assert refused.returncode == 1 and "is using" in refused.stderr
        running.stdin.write(b"<terminal>echo c > a.txt</terminal>")
        running.stdin.close()
        assert running.wait(timeout=60) == 0
    sa3p("undo", "--workspace", str(workspace))
    assert (workspace / "a.txt").read_text() == "b\n"


def _lock_held(workspace: Path) -> bool:
    path = store_directory(workspace) / "lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock if this took it
    return False


def test_undo_in_the_default_sandboxed_session(workspace: Path) -> None:
    from sa3p_host._sandbox import SandboxUnavailable, check_sandbox, find_bwrap

    try:
        check_sandbox(find_bwrap())
    except SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")
    _populate(workspace)
    before = snapshot(workspace)
    try:
        run_reply(workspace, TURN_ONE, "--idle-timeout", "120")
        assert "moved.txt" in snapshot(workspace)
        busy = subprocess.Popen(
            [*SA3P, "run", "--workspace", str(workspace)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with busy:
            assert busy.stdin is not None
            wait_until(lambda: _lock_held(workspace), seconds=60, what="the session run to begin")
            refused = sa3p("undo", "--workspace", str(workspace), check=False)
            assert refused.returncode == 1 and "session" in refused.stderr
            busy.stdin.close()
            assert busy.wait(timeout=60) == 0
        sa3p("undo", "--workspace", str(workspace))
        assert snapshot(workspace) == before
    finally:
        sa3p("session", "stop", "--workspace", str(workspace))


def test_undo_says_which_files_it_could_not_restore(workspace: Path) -> None:
    (workspace / "p").write_text("file\n")
    run_reply(workspace, "<terminal>rm p</terminal>")
    (workspace / "p").mkdir()
    (workspace / "p" / "inside").write_text("keep\n")  # by hand, between turns
    done = sa3p("undo", "--workspace", str(workspace), check=False)
    assert done.returncode == 1 and "not restored: p" in done.stderr
    assert (workspace / "p" / "inside").read_text() == "keep\n"
