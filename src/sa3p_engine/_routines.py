"""Running a routine: a generator that yields requests and is sent their outcomes.

The engine's commands are routines over ``Effect`` values (``_effects``); the host's protocol
streams are routines over wait conditions (``sa3p_host._stream_routines``). Either way a driver
performs each yielded value and hands back the result, or throws in the exception it raised, so
the routine's own ``try``/``finally`` blocks see it. ``drive`` does that in the calling thread,
``drive_async`` awaiting each step. A driver interrupted (cancelled, a ``KeyboardInterrupt``)
closes the routine: its ``finally`` blocks run, and the ``GeneratorExit`` tells it to drop what
it was doing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["drive", "drive_async"]

T = TypeVar("T")
Y = TypeVar("Y")


def _advance(
    routine: Generator[Y, Any, T], value: Any, error: Exception | None
) -> tuple[bool, Any]:
    """Hand ``value`` (or throw ``error``) into ``routine``: (True, its next request) or, once
    it returned, (False, its return value)."""
    try:
        return True, routine.send(value) if error is None else routine.throw(error)
    except StopIteration as stop:
        return False, stop.value


def drive(routine: Generator[Y, Any, T], perform: Callable[[Y], Any]) -> T:
    """Run ``routine`` to its end, performing each request with ``perform``."""
    with contextlib.closing(routine):
        going, request = _advance(routine, None, None)
        while going:
            try:
                value, error = perform(request), None
            except Exception as raised:
                value, error = None, raised
            going, request = _advance(routine, value, error)
        return request  # type: ignore[no-any-return]


async def drive_async(routine: Generator[Y, Any, T], perform: Callable[[Y], Awaitable[Any]]) -> T:
    """``drive``, awaiting each request's performance."""
    with contextlib.closing(routine):
        going, request = _advance(routine, None, None)
        while going:
            try:
                value, error = await perform(request), None
            except Exception as raised:
                value, error = None, raised
            going, request = _advance(routine, value, error)
        return request  # type: ignore[no-any-return]
