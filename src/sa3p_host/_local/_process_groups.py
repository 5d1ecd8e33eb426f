"""A command's process group, held by identity: a reused pid number is never signalled.

Every command leads a session and a process group of its own (group id = its pid). Once its
shell has exited and been reaped and the group is empty, that number is free, and a later
process may get it; ``killpg(number)`` would then reach a stranger. Two ways to hold on:

- ``PidfdGroup`` (Linux 6.9+): a pidfd of the leader, opened at start, refers to that process,
  not to its number. ``pidfd_send_signal(PIDFD_SIGNAL_PROCESS_GROUP)`` signals the group through
  it, after the leader was reaped too, and answers ``ESRCH`` once the group is empty, whoever
  has the number by then. The leader is reaped as soon as it exits.
- ``ZombieLeaderGroup`` (older kernels, other systems): the leader is left unreaped, a zombie,
  which holds its pid and so its group id, until a scan of the process table finds no other
  member of its group; only then is it reaped, and the group is never signalled again. Its exit
  status is read without reaping it (``waitid(WNOWAIT)``).

Either way a member that is our own zombie child (an orphan re-parented to this process, the
subreaper) is reaped while the group is probed: a zombie still counts as a member.
"""

from __future__ import annotations

import contextlib
import os
import signal as signals
import subprocess
import threading

from sa3p_host._local._linux_calls import PIDFD_SIGNAL_PROCESS_GROUP, pidfd_group_signals

__all__ = ["ProcessGroup", "open_process_group", "use_pidfd_groups"]

_PIDFD_GROUPS: bool | None = None  # probed on first use


def use_pidfd_groups(enabled: bool | None) -> None:
    """Choose the mechanism for groups opened from now on (None: probe the kernel)."""
    global _PIDFD_GROUPS  # noqa: PLW0603 - a process-wide fact about the kernel, cached
    _PIDFD_GROUPS = enabled


def open_process_group(process: subprocess.Popen[bytes]) -> ProcessGroup:
    """Hold the identity of ``process``'s group (``process`` leads it and is not reaped yet)."""
    global _PIDFD_GROUPS  # noqa: PLW0603 - see use_pidfd_groups
    if _PIDFD_GROUPS is None:
        _PIDFD_GROUPS = pidfd_group_signals()
    return PidfdGroup(process) if _PIDFD_GROUPS else ZombieLeaderGroup(process)


class ProcessGroup:
    """The group of one command (see the module notes); shared by both mechanisms.

    Attributes:
        pid: the leader's pid, which is the group's id.
        exit_fd: readable once the leader has exited (owned here).
    """

    def __init__(self, process: subprocess.Popen[bytes], exit_fd: int) -> None:
        self.pid = process.pid
        self.exit_fd = exit_fd
        self._process = process
        self._ended = False

    def leader_exited(self) -> int:
        """The leader's exit code, once ``exit_fd`` is readable (negative: killed by that
        signal)."""
        raise NotImplementedError

    def alive(self) -> bool:
        """Whether a member is left, once the leader has exited; False stays False."""
        raise NotImplementedError

    def send(self, signal: int) -> None:
        """Send ``signal`` to every member, unless the group is known to have ended."""
        raise NotImplementedError

    def reserved_number(self) -> int | None:
        """The group id if that number still names this group (for a process-table sweep)."""
        raise NotImplementedError

    def reap_leader(self, timeout: float) -> None:
        """Reap the leader (waiting up to ``timeout``) once nothing is to be signalled any more:
        the group counts as ended from now on."""
        self._ended = True
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=timeout)

    def release(self) -> None:
        """Close ``exit_fd``, once the group has ended and nobody polls it any more."""
        if self.exit_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.exit_fd)
            self.exit_fd = -1

    def _reap_zombie_members(self) -> bool:
        """Reap our zombie children in the group (only while its number is reserved: the
        group has members). Returns whether any was reaped."""
        reaped = False
        with contextlib.suppress(ChildProcessError):  # ECHILD: no child of ours in the group
            while os.waitpid(-self.pid, os.WNOHANG)[0] != 0:
                reaped = True
        return reaped


class PidfdGroup(ProcessGroup):
    """A group signalled through a pidfd of its leader (Linux 6.9+)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__(process, os.pidfd_open(process.pid))

    def leader_exited(self) -> int:
        return self._process.wait()

    def alive(self) -> bool:
        for _ in range(2):
            if not self._probe():
                return False
            if not self._reap_zombie_members():
                return True
        return self._probe()

    def send(self, signal: int) -> None:
        if self._ended:
            return
        try:
            signals.pidfd_send_signal(self.exit_fd, signal, None, PIDFD_SIGNAL_PROCESS_GROUP)
        except ProcessLookupError:
            self._end()
        except PermissionError:
            pass  # a member of another user (setuid): it is not ours to stop

    def reserved_number(self) -> int | None:
        return self.pid if self._probe() else None

    def _probe(self) -> bool:
        if self._ended:
            return False
        try:
            signals.pidfd_send_signal(self.exit_fd, 0, None, PIDFD_SIGNAL_PROCESS_GROUP)
        except (ProcessLookupError, PermissionError):
            self._end()  # empty (or only another user's): ended for good
            return False
        return True

    def _end(self) -> None:
        self._ended = True


class ZombieLeaderGroup(ProcessGroup):
    """A group whose leader stays a zombie until the group is empty (see the module notes)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        try:
            exit_fd = os.pidfd_open(process.pid)
        except (AttributeError, OSError):
            exit_fd = _exit_pipe(process.pid)
        super().__init__(process, exit_fd)
        self._exit_code: int | None = None

    def leader_exited(self) -> int:
        if self._exit_code is None:
            try:
                result = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:  # reaped already (``reap_leader``)
                return self._process.wait()
            assert result is not None
            exited = result.si_code == os.CLD_EXITED
            self._exit_code = result.si_status if exited else -result.si_status
        return self._exit_code

    def alive(self) -> bool:
        if self._ended:
            return False
        if _members_besides(self.pid):
            return True
        self._process.wait()  # the group is empty: only now may the number go
        self._ended = True
        return False

    def send(self, signal: int) -> None:
        if not self._ended:  # the unreaped leader still holds the number: it is this group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal)

    def reserved_number(self) -> int | None:
        return None if self._ended else self.pid


def _exit_pipe(pid: int) -> int:
    """A descriptor that becomes readable when ``pid`` (our child) exits, without reaping it."""
    read_end, write_end = os.pipe()

    def wait_then_notify() -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        os.close(write_end)

    threading.Thread(target=wait_then_notify, name=f"sa3p-exit-{pid}", daemon=True).start()
    return read_end


def _members_besides(group: int) -> bool:
    """Whether a live process other than ``group``'s leader is in that group; our zombie
    children in it are reaped on the way (another's zombie counts as gone)."""
    me = os.getpid()
    alive = False
    for pid, parent, state in _group_members(group):
        if pid == group:
            continue
        if state == "Z":
            if parent == me:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            continue
        alive = True
    return alive


def _group_members(group: int) -> list[tuple[int, int, str]]:
    """(pid, parent pid, state letter) of each process in process group ``group``."""
    if not os.path.isdir("/proc/self"):
        return _group_members_portably(group)
    members: list[tuple[int, int, str]] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == group:  # state, ppid, pgrp, …
            members.append((int(name), int(fields[1]), fields[0].decode()))
    return members


def _group_members_portably(group: int) -> list[tuple[int, int, str]]:
    import psutil  # noqa: PLC0415 - only where /proc is missing

    members: list[tuple[int, int, str]] = []
    for process in psutil.process_iter(["pid", "ppid", "status"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == group:
                zombie = process.info["status"] == psutil.STATUS_ZOMBIE
                members.append((process.pid, process.info["ppid"], "Z" if zombie else "R"))
    return members
