"""For the whole test run: a private, short runtime directory for sessions (so the tests never
meet the user's own sessions), and every session a test left running stopped at the end."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_runtime_directory() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="sa3p-tests-", dir="/tmp")
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = directory
    try:
        yield directory
    finally:
        _stop_sessions(directory)
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous
        shutil.rmtree(directory, ignore_errors=True)


def _stop_sessions(directory: str) -> None:
    sessions = os.path.join(directory, "sa3p", "sessions")
    for key in os.listdir(sessions) if os.path.isdir(sessions) else ():
        with contextlib.suppress(OSError, ValueError, KeyError, subprocess.SubprocessError):
            with open(os.path.join(sessions, key, "session.json")) as record:
                workspace = json.load(record)["workspace"]
            subprocess.run(
                [sys.executable, "-m", "sa3p_host", "session", "stop", "--workspace", workspace],
                capture_output=True,
                timeout=60,
                check=False,
            )
