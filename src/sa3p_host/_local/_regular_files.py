"""Reading only regular files: a FIFO never blocks, a device is never read, metadata is capped.

Every file the local backends read is opened ``O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW``
(with ``O_NONBLOCK``, opening a FIFO returns at once instead of waiting for a writer), then
``fstat``-ed, and anything but a regular file is refused before a byte is read: FIFOs, sockets,
character and block devices (``/dev/zero`` never ends), directories. ``O_NONBLOCK`` changes
nothing for a regular file's reads, so it stays set. The last component is never followed
here: ``Confinement`` has already followed the links inside the workspace.

Metadata (ignore files, git's index, config files) is read whole but capped: a file larger than
its cap is treated as absent, so a huge or endless one costs at most the cap.
"""

from __future__ import annotations

import contextlib
import os
import stat

from sa3p_engine import ErrorCode, FileSystemError
from sa3p_host._local._confinement import Confinement, Opened

__all__ = ["READ_FLAGS", "kind_of", "open_regular", "read_capped", "refuse_unless_regular"]

READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
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
    opened = confinement.open(path, READ_FLAGS, action=action)
    try:
        refuse_unless_regular(opened.info, opened.path.shown)
    except FileSystemError:
        os.close(opened.fd)
        raise
    return opened


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
