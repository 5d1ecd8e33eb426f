"""System calls the ``os`` module lacks: ``openat2(2)`` (through ``ctypes``) and the kernel
features the local backends probe for once.

``openat2`` is system call 437 on every architecture that has it (it was added after the
numbering was unified), so x86_64 and aarch64 share the number. Where it is missing (kernels
before 5.6, other systems) or refused (a seccomp filter answering ``ENOSYS``/``EPERM``),
``openat2`` raises ``Openat2Unavailable`` once and callers fall back to a walk of
``openat(O_NOFOLLOW)`` calls; ``disable_openat2`` forces that fallback (tests use it).
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from collections.abc import Callable

__all__ = [
    "PIDFD_SIGNAL_PROCESS_GROUP",
    "RESOLVE_BENEATH",
    "RESOLVE_NO_MAGICLINKS",
    "RESOLVE_NO_SYMLINKS",
    "Openat2Unavailable",
    "disable_openat2",
    "openat2",
    "pidfd_group_signals",
]

# linux/openat2.h
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
_SYS_OPENAT2 = 437
_UNAVAILABLE = {errno.ENOSYS, errno.EPERM, errno.E2BIG}

# linux/pidfd.h (Linux 6.9): pidfd_send_signal to the process group of the pidfd's process.
PIDFD_SIGNAL_PROCESS_GROUP = 1 << 2


class Openat2Unavailable(Exception):
    """This kernel (or its seccomp filter) does not offer ``openat2``."""


class _Openat2:
    """The ``syscall`` entry point and ``struct open_how``, made on first use (``ctypes`` costs
    ~3 ms of start-up, which a run that never opens a file need not pay)."""

    def __init__(self) -> None:
        self.call: Callable[[int, str, int, int], int] | None = None
        self.known_missing = not sys.platform.startswith("linux")

    def function(self) -> Callable[[int, str, int, int], int]:
        if self.call is None:
            self.call = self._load()
        return self.call

    def _load(self) -> Callable[[int, str, int, int], int]:
        import ctypes  # noqa: PLC0415 - see the class docstring

        class OpenHow(ctypes.Structure):
            _fields_ = (
                ("flags", ctypes.c_uint64),
                ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64),
            )

        try:
            syscall = ctypes.CDLL(None, use_errno=True).syscall
        except (OSError, AttributeError) as exc:
            self.known_missing = True
            raise Openat2Unavailable("no syscall() in this C library") from exc
        syscall.restype = ctypes.c_long
        syscall.argtypes = (
            ctypes.c_long,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.POINTER(OpenHow),
            ctypes.c_size_t,
        )

        def call(directory: int, path: str, flags: int, resolve: int) -> int:
            how = OpenHow(flags, 0, resolve)
            result = syscall(
                _SYS_OPENAT2, directory, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how)
            )
            return int(result) if result >= 0 else -ctypes.get_errno()

        return call


_OPENAT2 = _Openat2()


def disable_openat2(disabled: bool = True) -> None:
    """Make ``openat2`` raise ``Openat2Unavailable`` (``False`` probes the kernel again)."""
    _OPENAT2.known_missing = disabled or not sys.platform.startswith("linux")


def openat2(directory: int, path: str, flags: int, resolve: int) -> int:
    """``openat2(directory, path, {flags | O_CLOEXEC, 0, resolve})``: a new descriptor.

    Raises:
        Openat2Unavailable: the kernel lacks the call (remembered: later calls raise at once).
        OSError: what the kernel answered (``EXDEV`` for a path leaving ``directory`` under
            ``RESOLVE_BENEATH``, ``ELOOP`` for a symlink under ``RESOLVE_NO_SYMLINKS``, …).
    """
    if _OPENAT2.known_missing:
        raise Openat2Unavailable("openat2 is not available here")
    result = _OPENAT2.function()(directory, path, flags | os.O_CLOEXEC, resolve)
    if result >= 0:
        return result
    if -result in _UNAVAILABLE:
        _OPENAT2.known_missing = True
        raise Openat2Unavailable(os.strerror(-result))
    raise OSError(-result, os.strerror(-result), path)


def pidfd_group_signals() -> bool:
    """Whether ``pidfd_send_signal`` takes ``PIDFD_SIGNAL_PROCESS_GROUP`` here (Linux 6.9+).

    Probed with signal 0 on a pidfd of this process: ``ESRCH`` (we lead no group) or success
    means the flag is understood; ``EINVAL`` means it is not.
    """
    if not (hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")):
        return False
    try:
        own = os.pidfd_open(os.getpid())
    except OSError:
        return False
    try:
        signal.pidfd_send_signal(own, 0, None, PIDFD_SIGNAL_PROCESS_GROUP)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    finally:
        os.close(own)
    return True
