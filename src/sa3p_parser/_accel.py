"""Chooses between the optional C accelerator ``sa3p_parser._speedups`` and pure Python.

The extension is built by setup.py when a compiler is available (MarkupSafe's ``_speedups`` is
the model); without it, or when the environment variable ``SA3P_PURE_PYTHON`` is set to a
non-empty value other than ``0`` (read once, at import), everything runs in pure Python with
exactly the same results. Tests run both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["ACCELERATED", "speedups"]


def _load() -> ModuleType | None:
    if os.environ.get("SA3P_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from sa3p_parser import _speedups  # noqa: PLC0415  # optional: absent without a compiler
    except ImportError:
        return None
    return _speedups


speedups = _load()
"""The C extension module, or ``None`` when running in pure Python."""

ACCELERATED = speedups is not None
"""Whether the C accelerator is in use."""

ScanCommands = Callable[..., tuple[int, bool, int]]
"""``scan_commands`` of the extension (see ``_speedups.c``)."""


def c_attribute(name: str) -> Any:
    """An attribute of the extension, or ``None`` when running in pure Python."""
    return getattr(speedups, name, None)
