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
    """Sessions (XDG_RUNTIME_DIR) and checkpoint stores (XDG_STATE_HOME) of the whole run live
    in a temporary directory: the developer's own are never touched."""
    directory = tempfile.mkdtemp(prefix="sa3p-tests-", dir="/tmp")
    previous = {name: os.environ.get(name) for name in ("XDG_RUNTIME_DIR", "XDG_STATE_HOME")}
    os.environ["XDG_RUNTIME_DIR"] = directory
    os.environ["XDG_STATE_HOME"] = os.path.join(directory, "state")
    try:
        yield directory
    finally:
        _stop_sessions(directory)
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
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
