"""Finding and ending every process a terminal started, however far it wandered.

A command's processes are found four ways, because each alone misses some:

1. its process group (``ProcessGroup``: signalled by identity, never by a reused number);
2. an environment marker (``SA3P_TERMINAL=<random token>``) every descendant inherits, also
   one that called ``setsid`` to leave the group (lost with ``env -i``);
3. a marker descriptor: every command inherits the read end of a pipe of the terminal's own
   (nothing is ever written to it, its write end is closed), and ``/proc/PID/fd`` shows that
   pipe's inode in every process that still holds it, after ``env -i`` and ``setsid`` too;
4. descent: a process below one found by 1-3 is ours. With ``PR_SET_CHILD_SUBREAPER`` on this
   process, orphaned descendants are re-parented to us instead of init, stay in our process
   tree, and are reaped here once killed.

Processes are read through psutil and ``/proc`` for our own user only. Nothing that carries
none of the marks and descends from none of our processes is ever signalled, so processes this
program started by other means are safe.

Limits (documented): a descendant that leaves the group, clears its environment, closes every
inherited descriptor and whose parents all exit is not found; the subreaper flag is
process-wide, so orphans of *other* children of this process become our children too (zombies
until this process exits, unless they carry our marks).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sa3p_host._local._process_groups import ProcessGroup

if TYPE_CHECKING:
    import psutil

__all__ = [
    "MARKER_VARIABLE",
    "Marks",
    "become_subreaper",
    "end_process_tree",
    "marked_processes",
]

# psutil is imported where it is used (only when a terminal closes): it costs `sa3p run`
# ~10 ms of start-up otherwise, for every run, most of which never need it.

MARKER_VARIABLE = "SA3P_TERMINAL"
_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True, slots=True, kw_only=True)
class Marks:
    """What identifies one terminal's processes.

    Attributes:
        token: the value of ``MARKER_VARIABLE`` in their environment.
        descriptor: the marker pipe as ``/proc/PID/fd/N`` shows it (``pipe:[inode]``).
    """

    token: str
    descriptor: str


def become_subreaper() -> bool:
    """Ask Linux to re-parent orphaned descendants to this process. False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def marked_processes(marks: Marks, groups: set[int]) -> list[psutil.Process]:
    """Live processes in one of ``groups`` (numbers known to be ours), carrying one of
    ``marks``, or descending from one that does (see the module notes).

    Every process is checked for the group and the environment mark; only this process's
    descendants (orphans of ours among them, as we are their subreaper) for the descriptor mark
    and for descent, which keeps this to a few milliseconds on a machine of a few hundred
    processes.
    """
    import psutil  # noqa: PLC0415 - see the note on imports above

    me = os.getpid()
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if process.pid != me and _marked(process, marks, groups):
                found[process.pid] = process
    with contextlib.suppress(psutil.Error):
        descendants = psutil.Process(me).children(recursive=True)
        parents = {process.pid: _parent(process) for process in descendants}
        for process in descendants:
            if process.pid not in found and (
                _descends(process.pid, set(found), parents, me)
                or _holds(process.pid, marks.descriptor)
            ):
                found[process.pid] = process
    return list(found.values())


def _parent(process: psutil.Process) -> int:
    import psutil  # noqa: PLC0415 - see the note on imports above

    try:
        return process.ppid()
    except psutil.Error:
        return 0


def _marked(process: psutil.Process, marks: Marks, groups: set[int]) -> bool:
    if os.getpgid(process.pid) in groups:
        return True
    return process.environ().get(MARKER_VARIABLE) == marks.token


def _holds(pid: int, descriptor: str) -> bool:
    """Whether process ``pid`` has ``descriptor`` (a ``/proc/PID/fd`` link text) open."""
    directory = f"/proc/{pid}/fd"
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    for name in names:
        with contextlib.suppress(OSError):
            if os.readlink(f"{directory}/{name}") == descriptor:
                return True
    return False


def _descends(pid: int, ancestors: set[int], parents: dict[int, int], stop: int) -> bool:
    """Whether an ancestor of ``pid`` (up to ``stop``, not included) is in ``ancestors``."""
    for _ in range(len(parents) + 1):  # a bound: the table may change while it is read
        pid = parents.get(pid, 0)
        if pid <= 1 or pid == stop:
            return False
        if pid in ancestors:
            return True
    return False


def end_process_tree(
    marks: Marks, groups: Sequence[ProcessGroup], *, deadline: float = 5.0
) -> list[int]:
    """SIGKILL our groups and every process ``marked_processes`` finds until none is left,
    reaping those that are our children (except the groups' leaders: their owners reap them).

    A process once found stays on the list until it is reaped (or, not being our child, is
    dead): a killed orphan loses what identified it (a zombie's environment is unreadable).

    Returns:
        pids still alive at the deadline (empty when everything ended).
    """
    give_up = time.monotonic() + deadline
    leaders = {group.pid for group in groups}
    pending: dict[int, psutil.Process] = {}
    while True:
        numbers: set[int] = set()
        for group in groups:
            group.send(signal.SIGKILL)
            if (number := group.reserved_number()) is not None:
                numbers.add(number)
        for process in marked_processes(marks, numbers):
            pending.setdefault(process.pid, process)
        finished = [
            pid for pid, process in pending.items() if _kill(process, reap=pid not in leaders)
        ]
        for pid in finished:
            del pending[pid]
        if not pending or time.monotonic() >= give_up:
            return sorted(pending)
        time.sleep(0.01)


def _kill(process: psutil.Process, *, reap: bool) -> bool:
    """Kill ``process`` and, if ``reap``, reap it when it is our child. True once it is
    finished with (reaped, or a zombie someone else reaps, or gone)."""
    import psutil  # noqa: PLC0415 - see the note on imports above

    with contextlib.suppress(psutil.Error):
        process.kill()
    if reap:
        try:
            reaped, _ = os.waitpid(process.pid, os.WNOHANG)
        except ChildProcessError:
            pass  # not our child: its parent reaps it; done once it is dead
        else:
            return reaped != 0
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True
