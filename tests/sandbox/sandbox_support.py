"""Running commands in real sandboxes, and finding their processes on the host."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence

import psutil

from sa3p_host._sandbox import SandboxPolicy, sandboxed_command, sandboxed_environment

COMMAND_SECONDS = 30.0
"""Upper bound for one sandboxed command: a hang fails the test instead of blocking the suite."""


def run_inside(
    bwrap: str,
    policy: SandboxPolicy,
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    filtered: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` confined by ``policy`` and collect its output.

    ``environ`` (default: this process's) goes through ``sandboxed_environment`` unless
    ``filtered`` is false, which starts bwrap with it as it is.
    """
    source = dict(os.environ if environ is None else environ)
    env = sandboxed_environment(policy, source) if filtered else source
    return subprocess.run(
        sandboxed_command(policy, argv, bwrap=bwrap),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )


def shell_inside(
    bwrap: str, policy: SandboxPolicy, script: str
) -> subprocess.CompletedProcess[str]:
    """Run a ``sh -c`` script inside."""
    return run_inside(bwrap, policy, ["sh", "-c", script])


def python_inside(bwrap: str, policy: SandboxPolicy, code: str) -> subprocess.CompletedProcess[str]:
    """Run Python code inside with this interpreter (which the sandbox keeps visible)."""
    return run_inside(bwrap, policy, [sys.executable, "-c", code])


def unique_name(prefix: str) -> str:
    """A name no other test run uses (files under shared directories, process markers)."""
    return f"{prefix}-{secrets.token_hex(6)}"


def unique_sleep() -> str:
    """A ``sleep`` duration (about 1000 s) that marks this test's processes on the host."""
    return f"1000.{secrets.randbelow(10**9):09d}"


def processes_with_argument(argument: str) -> list[psutil.Process]:
    """The host's processes with ``argument`` in their command line."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if argument in cmdline:
            found.append(process)
    return found
