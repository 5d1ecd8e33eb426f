"""``Checkpoints`` as a library: turns seen through the watches and through whole walks alike,
edits between turns attributed to no turn, the bound, crashes, and where the store lives."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sa3p_engine import CommandOutput, NoticeOutput
from sa3p_host import (
    ChangeKind,
    Checkpoints,
    CheckpointUsageError,
    FileKind,
    TurnRecord,
    WorkspaceBusy,
)
from sa3p_host._workspace_tree import Tree

from ..waiting import wait_until
from .checkpoint_support import snapshot


def shell(workspace: Path, command: str) -> None:
    """Change the workspace from another process, as a terminal command would."""
    subprocess.run(["bash", "-c", command], cwd=workspace, check=True, timeout=60)


def changes_of(record: TurnRecord | None) -> dict[str, ChangeKind]:
    assert record is not None
    return {change.path: change.kind for change in record.changes}


def turn(store: Checkpoints, command: str, commands: tuple[str, ...] = ()) -> TurnRecord | None:
    store.begin_turn()
    shell(Path(store.workspace), command)
    return store.end_turn(commands or (f"terminal {command}",))


def test_every_kind_of_change_is_recorded_and_undone(store: Checkpoints, workspace: Path) -> None:
    shell(
        workspace,
        "mkdir -p src/old gone && echo a > src/a.py && echo x > src/old/x.py "
        "&& echo g > gone/g && ln -s src/a.py link && echo f > f && mkdir d && echo e > d/e",
    )
    before = snapshot(workspace)
    record = turn(
        store,
        "echo b >> src/a.py && rm -r gone && mv src/old src/new && mkdir -p n/m && echo n > n/m/n "
        "&& chmod +x f && ln -sfn f link && rm f && mkdir f && echo in > f/in "
        "&& rm -r d && echo file > d",
    )
    assert changes_of(record) == {
        "src/a.py": ChangeKind.MODIFIED,
        "gone/g": ChangeKind.DELETED,
        "src/old/x.py": ChangeKind.DELETED,
        "src/new/x.py": ChangeKind.CREATED,
        "n/m/n": ChangeKind.CREATED,
        "link": ChangeKind.MODIFIED,
        "f": ChangeKind.DELETED,
        "f/in": ChangeKind.CREATED,
        "d/e": ChangeKind.DELETED,
        "d": ChangeKind.CREATED,
    }
    undo = store.undo()
    assert undo is not None and undo.undoes == 1 and undo.unrestored == ()
    assert snapshot(workspace) == before
    assert not (workspace / "n").exists() and not (workspace / "src" / "new").exists()


def test_edits_between_turns_belong_to_no_turn_and_survive_undo(
    store: Checkpoints, workspace: Path
) -> None:
    shell(workspace, "echo 1 > mine.txt && echo 1 > model.txt")
    assert turn(store, "echo 2 > model.txt") is not None
    shell(workspace, "echo my edit > mine.txt && echo my edit too > model.txt")  # the user
    record = turn(store, "echo 3 > model.txt")
    assert changes_of(record) == {"model.txt": ChangeKind.MODIFIED}
    store.undo()
    assert (workspace / "mine.txt").read_text() == "my edit\n"
    assert (workspace / "model.txt").read_text() == "my edit too\n"


def test_a_turn_that_changes_nothing_or_changes_back_records_nothing(
    store: Checkpoints, workspace: Path
) -> None:
    (workspace / "a.txt").write_text("a\n")
    assert turn(store, "cat a.txt > /dev/null") is None
    assert (
        turn(store, "echo b > a.txt && echo a > a.txt && touch a.txt && echo t > t && rm t") is None
    )
    assert store.history() == []


def test_files_coming_into_or_out_of_view_are_not_the_turns(
    store: Checkpoints, workspace: Path
) -> None:
    shell(
        workspace,
        "git init -q && printf 'build/\\n*.log\\n' > .gitignore && mkdir build "
        "&& echo o > build/out.o && echo l > a.log && echo t > tracked.txt",
    )
    shell(workspace, "git add tracked.txt && git commit -qm t")
    ctime = os.lstat(workspace / "a.log").st_ctime_ns
    wait_until(lambda: time.time_ns() > ctime + 20_000_000, seconds=5, what="a clock tick")
    turn(store, "true")  # the tree as it is
    record = turn(
        store,
        "printf '*.log\\ntracked.txt\\n' > .gitignore && git add -f a.log && echo new > b.log "
        "&& git add -f b.log && echo n > build/new.o",
    )
    assert changes_of(record) == {
        ".gitignore": ChangeKind.MODIFIED,
        "b.log": ChangeKind.CREATED,
        "build/new.o": ChangeKind.CREATED,
    }
    store.undo()
    assert (workspace / "build" / "out.o").exists() and (workspace / "a.log").exists()
    assert (workspace / "tracked.txt").exists() and not (workspace / "build" / "new.o").exists()


def test_special_files_are_skipped_and_never_block(store: Checkpoints, workspace: Path) -> None:
    record = turn(store, "mkfifo pipe && echo x > x")
    assert changes_of(record) == {"x": ChangeKind.CREATED}
    assert stat.S_ISFIFO(os.lstat(workspace / "pipe").st_mode)


def test_symlinks_are_kept_as_their_target_never_followed(
    store: Checkpoints, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret\n")
    record = turn(store, f"ln -s {outside} dir-link && ln -s {outside}/secret file-link")
    assert changes_of(record) == {"dir-link": ChangeKind.CREATED, "file-link": ChangeKind.CREATED}
    assert record is not None
    state = {c.path: c.after for c in record.changes}["file-link"]
    assert state is not None and state.kind is FileKind.SYMLINK
    assert state.size == len(f"{outside}/secret")
    blob = store.directory / "objects" / state.blob[:2] / state.blob[2:]
    assert blob.read_bytes() == os.fsencode(f"{outside}/secret")
    store.undo()
    assert sorted(os.listdir(workspace)) == [] and (outside / "secret").exists()


def test_a_change_through_one_hard_link_is_recorded_under_every_name(
    store: Checkpoints, workspace: Path
) -> None:
    shell(workspace, "mkdir other && echo 1 > a && ln a other/b")
    record = turn(store, "echo 2 >> a")
    assert changes_of(record) == {"a": ChangeKind.MODIFIED, "other/b": ChangeKind.MODIFIED}


def test_files_over_the_size_limit_are_listed_but_not_kept(workspace: Path) -> None:
    (workspace / "big").write_bytes(b"b" * 100)
    with Checkpoints(workspace, max_file_bytes=64) as store:
        record = turn(store, "echo more >> big && echo small > small")
        assert changes_of(record) == {"big": ChangeKind.MODIFIED, "small": ChangeKind.CREATED}
        undo = store.undo()
    assert undo is not None and undo.unrestored == ("big",)
    assert (workspace / "big").read_bytes() == b"b" * 100 + b"more\n"
    assert not (workspace / "small").exists()


def test_a_path_blocked_by_a_directory_is_reported_not_restored(workspace: Path) -> None:
    (workspace / "p").write_text("file\n")
    with Checkpoints(workspace) as store:
        turn(store, "rm p")
        shell(workspace, "mkdir p && echo keep > p/inside")  # between turns: not undone
        undo = store.undo()
        assert undo is not None and undo.changes == () and undo.unrestored == ("p",)
        assert store.history()[-1] == undo  # recorded, to say what was not restored
    assert (workspace / "p" / "inside").read_text() == "keep\n"


def test_commands_from_engine_outputs(workspace: Path) -> None:
    with Checkpoints(workspace) as store:
        store.begin_turn()
        (workspace / "a").write_text("a\n")
        record = store.end_turn(
            [
                CommandOutput(command="terminal", ok=True, subject="make\nand more"),
                CommandOutput(command="apply_edit", ok=False, error="no match", subject="x.py"),
                NoticeOutput(command="notice", ok=False, error="quoted, not run"),
                "by hand",
            ]
        )
    assert record is not None
    assert record.commands == ("terminal make", "apply_edit x.py (failed)", "by hand")


def test_misuse_is_an_error_and_a_held_workspace_is_busy(workspace: Path) -> None:
    first, second = Checkpoints(workspace), Checkpoints(workspace)
    with first, second:
        with pytest.raises(CheckpointUsageError):
            first.end_turn()
        first.begin_turn()
        with pytest.raises(CheckpointUsageError):
            first.begin_turn()
        with pytest.raises(WorkspaceBusy):
            second.begin_turn(wait=False)
        with pytest.raises(WorkspaceBusy):
            second.undo()
        first.end_turn()
        second.begin_turn(wait=False)
        second.end_turn()


def test_the_store_stays_within_its_bound(workspace: Path) -> None:
    with Checkpoints(workspace, max_bytes=64 * 1024, max_turns=1000) as store:
        for number in range(40):
            turn(store, f"head -c 8192 /dev/urandom > file{number % 4}")
        sizes = [p.stat().st_size for p in (store.directory / "objects").glob("*/*")]
        assert sum(sizes) <= 64 * 1024 + 8192  # pruned to 3/4 when past the bound
        kept = store.history()
        assert 3 <= len(kept) < 40 and kept[-1].number == 40
        store.undo(kept[0].number)  # the oldest kept turn is whole
    with Checkpoints(workspace, max_turns=3) as store:
        turn(store, "echo again > again")
        assert [record.number for record in store.history()] == [40, 41, 42][-3:]


def test_blobs_of_pruned_turns_are_collected(workspace: Path) -> None:
    with Checkpoints(workspace, max_bytes=32 * 1024, max_turns=2) as store:
        for _ in range(12):
            turn(store, "head -c 4096 /dev/urandom > f")
        blobs = list((store.directory / "objects").glob("*/*"))
        assert len(store.history()) == 2 and len(blobs) < 12  # the first ones were collected
        assert sum(blob.stat().st_size for blob in blobs) <= 32 * 1024
        store.undo(store.history()[0].number)
    assert len((workspace / "f").read_bytes()) == 4096


def test_a_turn_left_open_by_a_crash_is_recorded_at_the_next_turn(workspace: Path) -> None:
    (workspace / "a").write_text("a\n")
    crashed = Checkpoints(workspace)
    crashed.begin_turn()
    shell(workspace, "echo changed > a && echo new > b")
    crashed.close()  # as if the process died: no end_turn
    with Checkpoints(workspace) as store:
        store.begin_turn()
        store.end_turn()
        [record] = store.history()
        assert record.commands[0].startswith("(interrupted")
        assert changes_of(record) == {"a": ChangeKind.MODIFIED, "b": ChangeKind.CREATED}
        store.undo()
    assert (workspace / "a").read_text() == "a\n" and not (workspace / "b").exists()


def test_a_failure_while_recording_leaves_history_whole(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sa3p_host import _checkpoints

    with Checkpoints(workspace) as store:
        turn(store, "echo 1 > a")
        real = _checkpoints._write_atomically

        def failing(store: Path, name: str, data: bytes) -> None:
            if name.startswith("turns/"):
                raise OSError(28, "No space left on device")
            real(store, name, data)

        monkeypatch.setattr(_checkpoints, "_write_atomically", failing)
        store.begin_turn()
        shell(workspace, "echo 2 > a")
        with pytest.raises(OSError):
            store.end_turn()
        monkeypatch.setattr(_checkpoints, "_write_atomically", real)
        assert [r.number for r in store.history()] == [1]
        store.begin_turn()  # records the turn the failure left open
        store.end_turn()
        assert [changes_of(r) for r in store.history()] == [
            {"a": ChangeKind.CREATED},
            {"a": ChangeKind.MODIFIED},
        ]


def test_damaged_store_files_cost_a_rescan_never_a_wrong_history(workspace: Path) -> None:
    with Checkpoints(workspace) as store:
        turn(store, "echo 1 > a")
        turn(store, "echo 2 > b")
        (store.directory / "tree").write_bytes(b"garbage")
        (store.directory / "state.json").write_bytes(b"{")
        first = sorted((store.directory / "turns").iterdir())[0]
        first.write_bytes(b'{"number": ')
        (store.directory / "tmp" / "half-written").write_bytes(b"x" * 100)
    with Checkpoints(workspace) as store:
        assert [r.number for r in store.history()] == [2]
        assert turn(store, "true") is None  # every file read again, none attributed
        assert list((store.directory / "tmp").iterdir()) == []
        record = turn(store, "echo 3 > c")
        assert record is not None and changes_of(record) == {"c": ChangeKind.CREATED}
        assert [r.number for r in store.history()] == [2, 3]  # numbers are never reused


def test_racy_entries_are_read_again(workspace: Path) -> None:
    with Checkpoints(workspace) as store:
        turn(store, "echo aaaa > a")
        tree = Tree.decode((store.directory / "tree").read_bytes())
        assert tree.keys["a"][2] == -1  # changed within the clock's margin: not trusted


def test_where_the_store_lives(workspace: Path, state_home: Path, tmp_path: Path) -> None:
    with Checkpoints(workspace) as store:
        turn(store, "echo 1 > a")
    assert store.directory.parent.parent == state_home / "sa3p"
    assert stat.S_IMODE(os.stat(state_home / "sa3p").st_mode) == 0o700
    assert (store.directory / "workspace").read_text() == str(workspace.resolve())
    gone = tmp_path / "gone"
    gone.mkdir()
    with Checkpoints(gone) as other:
        turn(other, "echo 1 > a")
    shell(tmp_path, "rm -r gone")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with Checkpoints(fresh) as third:
        third.begin_turn()
        third.end_turn()
    assert not other.directory.exists() and store.directory.exists()


def test_a_store_inside_the_workspace_is_not_walked(workspace: Path) -> None:
    inside = workspace / ".state"
    with Checkpoints(workspace, state_home=str(inside)) as store:
        record = turn(store, "echo 1 > a")
        assert changes_of(record) == {"a": ChangeKind.CREATED}
        assert turn(store, "true") is None


def test_a_session_exposes_its_workspaces_checkpoints(workspace: Path) -> None:
    from sa3p_host._sessions import open_session

    with open_session(workspace, sandbox="none", ephemeral=True) as session:
        session.checkpoints.begin_turn()
        result = session.terminal.run("echo made > made.txt", timeout=30.0)
        assert result.exit_code == 0
        record = session.checkpoints.end_turn(["terminal echo made > made.txt"])
        assert changes_of(record) == {"made.txt": ChangeKind.CREATED}
        assert session.checkpoints.undo() is not None
    assert not (workspace / "made.txt").exists()


def test_history_records_are_json_a_person_can_read(workspace: Path) -> None:
    with Checkpoints(workspace) as store:
        turn(store, "printf 'x' > a && chmod 751 a")
        [path] = (store.directory / "turns").iterdir()
    [change] = json.loads(path.read_text())["changes"]
    assert change["path"] == "a" and change["before"] is None
    assert {key: change["after"][key] for key in ("kind", "mode", "size")} == {
        "kind": "file",
        "mode": 0o751,
        "size": 1,
    }


def test_the_documented_example_runs_as_written(tmp_path: Path) -> None:
    document = Path(__file__).resolve().parents[2] / "docs" / "CHECKPOINTS.md"
    [example] = re.findall(r"```python\n(.*?)```", document.read_text(), flags=re.DOTALL)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "old.txt").write_text("old\n")
    done = subprocess.run(
        [sys.executable, "-c", example],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "created   notes.txt" in done.stdout and "deleted   old.txt" in done.stdout
    assert sorted(os.listdir(tmp_path / "repo")) == ["old.txt"]
