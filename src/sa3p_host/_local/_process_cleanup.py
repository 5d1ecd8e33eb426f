"""Finding and ending every process a terminal started, however far it wandered.

A command's processes are found three ways, because each alone misses some:

1. its process group (every command starts a new session, so its group id is its pid);
2. an environment marker (``SA3P_TERMINAL=<random token>``) that every descendant inherits,
   including one that called ``setsid`` and double-forked to leave the group (read from
   ``/proc/<pid>/environ`` through psutil, for processes of our own user);
3. on Linux, ``PR_SET_CHILD_SUBREAPER`` on this process, so orphaned descendants are re-parented
   to us instead of init, and can be reaped after they are killed.

Limits (documented): a descendant that both leaves the group and clears or replaces its
environment (``env -i``, a setuid program) is not found; the subreaper flag is process-wide, so
orphaned descendants of *other* children of this process also become our children (zombies
until this process exits unless they carry our marker).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

__all__ = [
    "MARKER_VARIABLE",
    "become_subreaper",
    "end_process_tree",
    "group_alive",
    "marked_processes",
]

# psutil is imported where it is used (only when a terminal closes): it costs `sa3p run`
# ~10 ms of start-up otherwise, for every run, most of which never need it.

MARKER_VARIABLE = "SA3P_TERMINAL"
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Ask Linux to re-parent orphaned descendants to this process. False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def group_alive(group: int) -> bool:
    """Whether process group ``group`` still has a member, once its leader has been reaped.

    Members that are our zombie children (orphans re-parented to us, the subreaper) are reaped
    first: a zombie still counts as a group member for ``killpg``, so unreaped it would keep
    the group "alive" for ever. Call this only after the leader was reaped (``Popen.wait``): it
    reaps any child of ours in the group, and would otherwise steal the leader's exit status.

    A group id is a pid number, kept by the kernel while any member has it; once the group is
    empty the number may be reused (after the pid space wraps). Callers remember a group found
    empty and never ask again; a group of another user (``EPERM``) counts as not ours: ended.
    """
    with contextlib.suppress(ChildProcessError):  # ECHILD: no child of ours in the group
        while os.waitpid(-group, os.WNOHANG)[0] != 0:
            continue
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def marked_processes(token: str, groups: set[int]) -> list[psutil.Process]:
    """Live processes carrying our marker ``token`` or belonging to one of our ``groups``."""
    import psutil  # noqa: PLC0415 - see the note on imports above

    found: list[psutil.Process] = []
    me = os.getpid()
    for process in psutil.process_iter():
        if process.pid == me:
            continue
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) in groups or (
                process.environ().get(MARKER_VARIABLE) == token
            ):
                found.append(process)
    return found


def end_process_tree(token: str, groups: set[int], *, deadline: float = 5.0) -> list[int]:
    """SIGKILL our groups and every marked process until none is left, reaping our children.

    A process once found stays on the list until it is reaped (or, not being our child, is dead)
    because a killed orphan loses what identified it: a zombie's environment is unreadable.

    Returns:
        pids still alive at the deadline (empty when everything ended).
    """
    give_up = time.monotonic() + deadline
    pending: dict[int, psutil.Process] = {}
    while True:
        for group in groups:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)
        for process in marked_processes(token, groups):
            pending.setdefault(process.pid, process)
        for pid in [pid for pid, process in pending.items() if _kill_and_reap(process)]:
            del pending[pid]
        if not pending or time.monotonic() >= give_up:
            return sorted(pending)
        time.sleep(0.01)


def _kill_and_reap(process: psutil.Process) -> bool:
    """Kill ``process`` and reap it if it is our child. True once it is finished with."""
    import psutil  # noqa: PLC0415 - see the note on imports above

    with contextlib.suppress(psutil.Error):
        process.kill()
    try:
        reaped, _ = os.waitpid(process.pid, os.WNOHANG)
    except ChildProcessError:  # not our child: its parent reaps it; done once it is dead
        try:
            return process.status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            return True
    return reaped != 0
