"""Helpers for the host tests: a call that must not hang, what a process has staged, a tree."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def finishes_within(seconds: float, action: Callable[[], T]) -> T | BaseException:
    """Run ``action`` in a daemon thread; its result (or what it raised) if it ended within
    ``seconds``. A hang fails the test instead of blocking the suite."""
    outcome: list[T | BaseException] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as error:  # handed to the test
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"still running after {seconds} s: it hangs")
    return outcome[0]


def staged_bytes(pid: int, directory: str) -> int:
    """Bytes in the files process ``pid`` has open in ``directory`` (an unnamed ``O_TMPFILE``
    shows as ``directory/#inode (deleted)``), 0 when none."""
    total = 0
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
            staged = target.endswith(" (deleted)") or "/.sa3p-writes/" in target
            if target.startswith(directory + "/") and staged:
                total += os.stat(f"/proc/{pid}/fd/{name}").st_size
        except OSError:
            continue
    return total


def tree(root: str) -> set[str]:
    """Every path below ``root`` (hidden ones too), relative, directories with a ``/``."""
    found: set[str] = set()
    for directory, folders, files in os.walk(root):
        base = os.path.relpath(directory, root)
        for name in folders:
            found.add(os.path.normpath(os.path.join(base, name)) + "/")
        for name in files:
            found.add(os.path.normpath(os.path.join(base, name)))
    return found
