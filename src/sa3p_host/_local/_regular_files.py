"""Reading only regular files: a FIFO never blocks, a device is never read, metadata is capped.

A file the model names is first opened ``O_PATH`` (which never opens the file itself: no FIFO
waits, no device driver runs) and ``fstat``-ed; anything but a regular file is refused there:
FIFOs, sockets, character and block devices (``/dev/zero`` never ends), directories. Only then
is that same inode opened for reading, through ``/proc/self/fd/N`` (or, without ``/proc``, by a
second resolution whose ``fstat`` must name the same inode). Reads are opened ``O_NONBLOCK``,
which changes nothing for a regular file.

Metadata (ignore files, git's index, config files) is opened ``O_RDONLY | O_NONBLOCK |
O_NOCTTY | O_NOFOLLOW``, ``fstat``-ed, refused unless regular, and read whole but capped: a
file larger than its cap is treated as absent, so a huge or endless one costs at most the cap.
"""

from __future__ import annotations

import contextlib
import os
import stat

from sa3p_engine import ErrorCode, FileSystemError
from sa3p_host._local._confinement import O_PATH, Confinement, Opened, error_from_os

__all__ = [
    "PROC_FD",
    "READ_FLAGS",
    "kind_of",
    "open_regular",
    "read_capped",
    "refuse_unless_regular",
]

READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
PROC_FD: str | None = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else None
"""Where this process's descriptors can be reopened (None: no ``/proc`` here)."""
_REOPEN_FLAGS = READ_FLAGS & ~getattr(os, "O_NOFOLLOW", 0)  # /proc/self/fd/N is a magic link
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symlink"),
)
_BLOCK = 1 << 16


def kind_of(mode: int) -> str:
    """What a file of ``mode`` is, for messages ("a FIFO"; "a regular file")."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def refuse_unless_regular(info: os.stat_result, shown: str) -> None:
    """Raise unless ``info`` is a regular file's.

    Raises:
        FileSystemError: IS_A_DIRECTORY for a directory; INVALID_PATH for anything else that
            is not a regular file ("src/x is a FIFO, not a regular file").
    """
    if stat.S_ISREG(info.st_mode):
        return
    code = ErrorCode.IS_A_DIRECTORY if stat.S_ISDIR(info.st_mode) else ErrorCode.INVALID_PATH
    raise FileSystemError(
        code, f"{shown} is {kind_of(info.st_mode)}, not a regular file", path=shown
    )


def open_regular(confinement: Confinement, path: str, action: str) -> Opened:
    """Open ``path`` for reading if it is a regular file (see the module notes).

    Raises:
        FileSystemError: the resolution's errors, or ``refuse_unless_regular``'s.
    """
    # openat2 refuses O_PATH with other flags; without O_PATH the probe reads, non-blocking
    probe_flags = O_PATH if O_PATH != os.O_RDONLY else READ_FLAGS
    with confinement.open(path, probe_flags, action=action) as probe:
        refuse_unless_regular(probe.info, probe.path.shown)
        if O_PATH == os.O_RDONLY:  # no O_PATH here: the probe is open for reading already
            return Opened(fd=os.dup(probe.fd), path=probe.path, info=probe.info)
        return Opened(fd=_reopen(confinement, probe, action), path=probe.path, info=probe.info)


def _reopen(confinement: Confinement, probe: Opened, action: str) -> int:
    """``probe``'s inode (an ``O_PATH`` descriptor), opened for reading."""
    if PROC_FD is not None:
        try:
            return os.open(f"{PROC_FD}/{probe.fd}", _REOPEN_FLAGS)
        except OSError as exc:
            raise error_from_os(exc, probe.path.shown, action) from exc
    again = confinement.open(probe.path.relative, READ_FLAGS, action=action)
    if (again.info.st_dev, again.info.st_ino) != (probe.info.st_dev, probe.info.st_ino):
        os.close(again.fd)
        raise FileSystemError(
            ErrorCode.IO_ERROR,
            f"cannot {action} {probe.path.shown!r}: it was replaced while being opened",
            path=probe.path.shown,
        )
    return again.fd


def read_capped(name: str, cap: int, *, directory: int | None = None) -> bytes | None:
    """The content of regular file ``name`` (in ``directory``, a descriptor, if given), or None
    when it is missing, unreadable, not a regular file, a symlink, or larger than ``cap``."""
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=directory)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        pieces: list[bytes] = []
        size = 0
        while size <= cap and (piece := os.read(fd, min(_BLOCK, cap + 1 - size))):
            pieces.append(piece)
            size += len(piece)
        return b"".join(pieces) if size <= cap else None
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
