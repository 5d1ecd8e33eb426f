"""Processes inside: their environment, their limits, and that none outlives the sandbox."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys

import pytest

from sa3p_host._sandbox import (
    LAUNCHER_REFUSED_EXIT,
    SandboxPolicy,
    sandboxed_command,
    sandboxed_environment,
)

from ..waiting import wait_until
from .sandbox_support import (
    COMMAND_SECONDS,
    processes_with_argument,
    python_inside,
    run_inside,
    shell_inside,
    unique_sleep,
)


def test_only_allowed_variables_get_in(bwrap: str, policy: SandboxPolicy) -> None:
    passed = dataclasses.replace(policy, env_names=("SA3P_TEST_PASSED",))
    environ = {
        **os.environ,
        "SA3P_TEST_PASSED": "yes",
        "SA3P_TEST_API_KEY": "sk-secret",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
    }
    code = (
        "import json, os\n"
        "print(json.dumps(dict(os.environ)))\n"
        "print(open('/proc/1/environ').read())\n"
    )
    done = run_inside(bwrap, passed, [sys.executable, "-c", code], environ=environ)
    variables, reaper_environment = done.stdout.split("\n", 1)
    inside = json.loads(variables)
    assert set(inside) == {"HOME", "LC_ALL", "PATH", "PWD", "SA3P_TEST_PASSED", "TERM"} | (
        {"LANG"} if "LANG" in os.environ else set()
    )
    assert inside["SA3P_TEST_PASSED"] == "yes"
    # bwrap's own process 1 keeps the environment bwrap started with: it must be clean too.
    assert "sk-secret" not in done.stdout and "SA3P_TEST_API_KEY" not in reaper_environment


def test_the_launcher_refuses_an_unfiltered_environment(bwrap: str, policy: SandboxPolicy) -> None:
    environ = {**os.environ, "SA3P_TEST_API_KEY": "sk-secret"}
    done = run_inside(
        bwrap, policy, ["sh", "-c", "echo ran > ran"], environ=environ, filtered=False
    )
    assert done.returncode == LAUNCHER_REFUSED_EXIT
    assert "SA3P_TEST_API_KEY" in done.stderr and "sk-secret" not in done.stderr
    assert not os.path.exists(os.path.join(policy.workspace, "ran"))


def test_the_environment_has_a_path_without_one() -> None:
    policy = SandboxPolicy(workspace="/w", runtime_dir="/r")
    environment = sandboxed_environment(policy, {"SECRET": "x"})
    assert set(environment) == {"PATH", "HOME"}


def test_a_missing_command_is_reported(bwrap: str, policy: SandboxPolicy) -> None:
    done = run_inside(bwrap, policy, ["sa3p-no-such-command"])
    assert done.returncode == 127
    assert "cannot run sa3p-no-such-command" in done.stderr


def test_nothing_outlives_the_main_process(bwrap: str, policy: SandboxPolicy) -> None:
    marker = unique_sleep()
    script = (
        f"sleep {marker} >/dev/null 2>&1 & "
        f"setsid -f sleep {marker} >/dev/null 2>&1; "
        f"nohup sleep {marker} >/dev/null 2>&1 & "
        # let them start, so there is something to outlive (COMMAND_SECONDS bound the wait)
        f"until [ \"$(pgrep -cxf 'sleep {marker}')\" = 3 ]; do sleep 0.01; done; "
        "echo started"
    )
    try:
        done = shell_inside(bwrap, policy, script)
        assert done.stdout == "started\n", done.stderr
        wait_until(
            lambda: not processes_with_argument(marker), seconds=10, what="the sleeps to end"
        )
    finally:
        for process in processes_with_argument(marker):  # only if confinement failed
            process.kill()


def test_killing_bwrap_ends_everything_inside(bwrap: str, policy: SandboxPolicy) -> None:
    marker = unique_sleep()
    argv = sandboxed_command(
        policy, ["sh", "-c", f"sleep {marker} & exec sleep {marker}"], bwrap=bwrap
    )
    sandbox = subprocess.Popen(argv, env=sandboxed_environment(policy, os.environ))
    try:
        wait_until(
            lambda: len(processes_with_argument(marker)) == 2, seconds=10, what="both sleeps"
        )
        sandbox.kill()  # what happens to a session whose host process crashes
        sandbox.wait(timeout=COMMAND_SECONDS)
        wait_until(
            lambda: not processes_with_argument(marker), seconds=10, what="the sleeps to end"
        )
    finally:
        sandbox.kill()
        for process in processes_with_argument(marker):
            process.kill()


def test_limits_are_in_effect(bwrap: str, policy: SandboxPolicy) -> None:
    limited = dataclasses.replace(policy, memory_bytes=256 * 1024**2, max_processes=64)
    code = (
        "from resource import RLIMIT_DATA, RLIMIT_NPROC, getrlimit\n"
        "print(getrlimit(RLIMIT_DATA), getrlimit(RLIMIT_NPROC))\n"
        "try:\n"
        "    bytearray(512 * 1024 * 1024)\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n"
    )
    done = python_inside(bwrap, limited, code)
    assert done.stdout.splitlines() == [
        f"{(256 * 1024**2,) * 2} {(64, 64)}",
        "MemoryError",
    ], done.stderr


def test_no_limits_when_none(bwrap: str, policy: SandboxPolicy) -> None:
    unlimited = dataclasses.replace(policy, memory_bytes=None, max_processes=None)
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_DATA))"
    done = python_inside(bwrap, unlimited, code)
    assert done.stdout.strip() == str(resource.getrlimit(resource.RLIMIT_DATA))


@pytest.mark.skipif(os.getuid() == 0, reason="the kernel never enforces RLIMIT_NPROC for root")
def test_the_process_limit_counts_only_this_sandbox(bwrap: str, policy: SandboxPolicy) -> None:
    limited = dataclasses.replace(policy, max_processes=8)
    code = (
        "import os, time\n"
        "children = []\n"
        "try:\n"
        "    for _ in range(16):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(5); os._exit(0)\n"
        "        children.append(pid)\n"
        "except BlockingIOError:\n"
        "    pass\n"
        "print(len(children))\n"
    )
    done = python_inside(bwrap, limited, code)
    assert 0 < int(done.stdout) < 8  # bwrap's reaper and this process count too


def test_a_new_session_without_a_terminal(bwrap: str, policy: SandboxPolicy) -> None:
    """The session is the sandbox's own (led by bwrap's process 1; 0 would mean one outside),
    so no terminal of the host's can be reached, nor fed input (TIOCSTI)."""
    code = (
        "import os\n"
        "print(os.getsid(0))\n"
        "try:\n"
        "    open('/dev/tty')\n"
        "except OSError as error:\n"
        "    print(error.strerror)\n"
    )
    done = python_inside(bwrap, policy, code)
    assert done.stdout.splitlines() == ["1", "No such device or address"]


def test_no_capabilities_and_no_nested_namespaces(bwrap: str, policy: SandboxPolicy) -> None:
    done = shell_inside(bwrap, policy, "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status")
    assert done.stdout.split() == [
        "CapPrm:", "0000000000000000", "CapEff:", "0000000000000000",
        "CapBnd:", "0000000000000000",
    ]  # fmt: skip
    if shutil.which("unshare"):
        nested = shell_inside(bwrap, policy, "unshare --user --map-root-user true")
        assert nested.returncode != 0
