"""Sessions through the ``sa3p`` command: processes that outlive a run, sandboxed by default,
ended by ``session stop`` whatever they did to escape; runs never interleave."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import psutil
import pytest

from ..waiting import wait_until

SA3P = [sys.executable, "-m", "sa3p_host"]


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private runtime directory (short: socket paths have a 108-byte limit), so these tests
    never meet the user's own sessions."""
    directory = Path(tempfile.mkdtemp(prefix="sa3p-rt-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    yield directory
    for record in directory.glob("sa3p/sessions/*/session.json"):
        with contextlib.suppress(Exception):
            stop(Path(json.loads(record.read_text())["workspace"]))
    shutil.rmtree(directory, ignore_errors=True)


def stop(workspace: Path) -> None:
    command = [*SA3P, "session", "stop", "--workspace", str(workspace)]
    subprocess.run(command, check=True, timeout=60, capture_output=True)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def run(workspace: Path, reply: str, *options: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [*SA3P, "run", "--workspace", str(workspace), "--json", *options],
        input=reply.encode(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def terminal_output(stdout: str) -> str:
    for line in stdout.splitlines():
        item = json.loads(line)
        if item.get("command") == "terminal":
            return str(item["output"])
    raise AssertionError(stdout)


def active_pids(stdout: str) -> list[int]:
    state = json.loads(stdout.splitlines()[-1])
    assert state["type"] == "state", state
    return list(state["active_pids"])


def result(stdout: str, command: str) -> dict[str, object]:
    for line in stdout.splitlines():
        item = json.loads(line)
        if item.get("command") == command:
            return dict(item)
    raise AssertionError(stdout)


def session_processes(runtime: Path) -> list[psutil.Process]:
    """Every process of the sessions started under ``runtime``."""
    found = []
    for record in runtime.glob("sa3p/sessions/*/session.json"):
        pid = json.loads(record.read_text())["pid"]
        with contextlib.suppress(psutil.Error):
            main = psutil.Process(pid)
            found += [main, *main.children(recursive=True)]
    return found


def _named(process: psutil.Process, name: str) -> bool:
    with contextlib.suppress(psutil.Error):  # it may be gone already
        return process.name() == name
    return False


def test_a_detached_process_lives_on_between_runs(runtime: Path, workspace: Path) -> None:
    first = run(workspace, '<terminal timeout="1">echo started; sleep 300</terminal>')
    [pid] = active_pids(first)
    second = run(workspace, f'<terminal pid="{pid}" timeout="1"/>')
    assert active_pids(second) == [pid]  # listed and polled in the next run
    third = run(workspace, f'<terminal_signal pid="{pid}" signal="SIGTERM"/>')
    assert result(third, "terminal_signal")["exited"] is True
    assert active_pids(third) == []


def test_ephemeral_runs_end_their_processes(runtime: Path, workspace: Path) -> None:
    for sandbox in ("bwrap", "none"):
        marker = f"sa3p-ephemeral-{sandbox}-{os.getpid()}"
        run(
            workspace,
            f'<terminal timeout="1">exec -a {marker} sleep 300</terminal>',
            "--ephemeral",
            "--sandbox",
            sandbox,
        )
        leftovers = [
            p for p in psutil.process_iter(["cmdline"]) if marker in str(p.info["cmdline"])
        ]
        assert leftovers == []


def test_stop_ends_every_process_whatever_it_did(runtime: Path, workspace: Path) -> None:
    escapes = (
        "sleep 301 &",
        "setsid -f sleep 302",
        "env -i setsid -f sleep 303",
        "nohup sleep 304 >/dev/null 2>&1 &",
    )
    run(workspace, "".join(f"<terminal>{command}</terminal>" for command in escapes))

    def sleeping() -> int:  # a forked escape runs `sleep` once it has exec'd it
        return sum(_named(p, "sleep") for p in session_processes(runtime))

    wait_until(lambda: sleeping() == len(escapes), 20, "every escape running sleep")
    started = session_processes(runtime)
    stop(workspace)
    _, alive = psutil.wait_procs(started, timeout=20)
    assert alive == []


def test_a_killed_session_is_replaced_by_the_next_run(runtime: Path, workspace: Path) -> None:
    run(workspace, "<terminal>true</terminal>")
    [record] = runtime.glob("sa3p/sessions/*/session.json")
    first = json.loads(record.read_text())
    main = psutil.Process(first["pid"])
    tree = [main, *main.children(recursive=True)]
    for proc in reversed(tree):
        proc.kill()  # kill -9, its socket file left behind
    psutil.wait_procs(tree, timeout=20)
    assert os.path.exists(first["socket"])
    output = run(workspace, "<terminal>echo again</terminal>")
    assert "again" in terminal_output(output)
    assert json.loads(record.read_text())["pid"] != first["pid"]


def test_two_runs_on_one_session_never_interleave(runtime: Path, workspace: Path) -> None:
    run(workspace, "<terminal>true</terminal>")  # the session exists
    log = workspace / "log.txt"
    reply = "".join(
        f"<terminal>echo {{tag}} {index} >> log.txt; sleep 0.05</terminal>" for index in range(8)
    )
    threads = [
        threading.Thread(target=run, args=(workspace, reply.replace("{tag}", tag)))
        for tag in ("A", "B")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    tags = [line.split()[0] for line in log.read_text().splitlines()]
    assert len(tags) == 16
    assert tags in (["A"] * 8 + ["B"] * 8, ["B"] * 8 + ["A"] * 8), tags


def test_a_session_ends_after_its_idle_timeout(runtime: Path, workspace: Path) -> None:
    run(workspace, "<terminal>sleep 300 &</terminal>", "--idle-timeout", "1")
    started = session_processes(runtime)
    assert started
    _, alive = psutil.wait_procs(started, timeout=30)
    assert alive == []


def test_session_list_shows_the_session(runtime: Path, workspace: Path) -> None:
    run(workspace, "<terminal>sleep 300 &</terminal>")
    listed = subprocess.run(
        [*SA3P, "session", "list"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert re.search(
        rf"^{re.escape(str(workspace.resolve()))}\tpid \d+\tage \d+s\tsandbox bwrap"
        rf"\t1 live processes$",
        listed,
        flags=re.MULTILINE,
    ), listed


# ---- inside the sandbox ------------------------------------------------------------------


def test_writes_outside_the_workspace_fail_and_leave_nothing(
    runtime: Path, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    output = run(
        workspace,
        f"<terminal>echo x > {outside}; echo x > /etc/sa3p-test; echo x > inside.txt;"
        f" echo done</terminal>",
    )
    assert "done" in terminal_output(output)
    assert not outside.exists() and not os.path.exists("/etc/sa3p-test")
    assert (workspace / "inside.txt").read_text() == "x\n"


def test_a_secret_in_the_home_is_unreadable(runtime: Path, workspace: Path) -> None:
    home = Path(os.path.expanduser("~"))
    secret = home / f".sa3p-secret-{os.getpid()}"
    secret.write_text("hunter2")
    try:
        output = run(workspace, f"<terminal>cat {secret}; echo status $?</terminal>")
    finally:
        secret.unlink()
    text = terminal_output(output)
    assert "hunter2" not in text and "status 1" in text


def test_the_network_is_off_unless_asked(runtime: Path, workspace: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        probe = (
            f"<terminal>python3 -c 'import socket; socket.create_connection"
            f'(("127.0.0.1", {port}), timeout=2); print("reached")\'; echo status $?</terminal>'
        )
        assert "reached" not in terminal_output(run(workspace, probe, "--ephemeral"))
        assert "reached" in terminal_output(run(workspace, probe, "--ephemeral", "--network"))


def test_only_named_variables_reach_the_commands(
    runtime: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SA3P_TEST_SECRET", "s3cret")
    monkeypatch.setenv("SA3P_TEST_PASSED", "visible")
    output = run(
        workspace,
        "<terminal>echo [$SA3P_TEST_SECRET] [$SA3P_TEST_PASSED]</terminal>",
        "--ephemeral",
        "--env",
        "SA3P_TEST_PASSED",
    )
    assert "[] [visible]" in terminal_output(output)


def test_git_hooks_are_read_only(runtime: Path, workspace: Path) -> None:
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    output = run(
        workspace,
        "<terminal>echo evil > .git/hooks/pre-commit; echo hooks $?;"
        " echo ok > .git/description; echo git $?</terminal>",
        "--ephemeral",
    )
    text = terminal_output(output)
    assert "hooks 1" in text and "git 0" in text
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists()


def test_a_machine_without_sandbox_says_so_and_names_the_ways_out(
    runtime: Path, workspace: Path, tmp_path: Path
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"
    )
    (fake / "bwrap").chmod(0o755)
    environment = {**os.environ, "SA3P_BWRAP": str(fake / "bwrap")}
    done = subprocess.run(
        [*SA3P, "run", "--workspace", str(workspace)],
        input=b"<terminal>touch ran</terminal>",
        capture_output=True,
        timeout=60,
        env=environment,
        check=False,
    )
    assert done.returncode == 1
    said = done.stderr.decode()
    assert "user namespaces" in said and "--sandbox none" in said
    assert not (workspace / "ran").exists()


def test_sandbox_none_says_so_once(runtime: Path, workspace: Path) -> None:
    done = subprocess.run(
        [*SA3P, "run", "--workspace", str(workspace), "--sandbox", "none", "--ephemeral"],
        input=b"<terminal>true</terminal>",
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert done.stderr.decode().count("unconfined") == 1


def test_while_starting_runs_once_between_start_and_connect(runtime: Path, workspace: Path) -> None:
    from sa3p_host import open_session, stop_session

    for _ in range(2):  # cold: the guest is starting when it runs; warm: it is found running
        calls: list[int] = []
        with open_session(workspace, while_starting=partial(calls.append, 1)) as session:
            assert calls == [1]
            assert session.vfs.cwd() == os.path.realpath(workspace)
    stop_session(workspace)
