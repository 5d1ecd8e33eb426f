"""For the whole test run: a private, short runtime directory for sessions (so the tests never
meet the user's own sessions), and every session a test left running stopped at the end."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
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
    """End every session left under ``directory``: all guests told at once, then waited for."""
    import psutil

    trees = []
    for record in glob.glob(os.path.join(directory, "sa3p", "sessions", "*", "session.json")):
        with contextlib.suppress(OSError, ValueError, KeyError, psutil.Error):
            with open(record) as handle:
                main = psutil.Process(json.load(handle)["pid"])
            tree = [main, *main.children(recursive=True)]
            for process in tree:
                with contextlib.suppress(psutil.Error):
                    process.terminate()
            trees += tree
    _, alive = psutil.wait_procs(trees, timeout=20)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
