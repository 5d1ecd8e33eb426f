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


class _Outcome:
    """A step's result or the exception it raised, to hand back to the routine."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: Exception | None = None) -> None:
        self.value = value
        self.error = error

    def resume(self, routine: Generator[Y, Any, Any]) -> tuple[bool, Any]:
        """(True, next request) or, once the routine returned, (False, its return value)."""
        try:
            if self.error is None:
                return True, routine.send(self.value)
            return True, routine.throw(self.error)
        except StopIteration as stop:
            return False, stop.value


def drive(routine: Generator[Y, Any, T], perform: Callable[[Y], Any]) -> T:
    """Run ``routine`` to its end, performing each request with ``perform``."""
    outcome = _Outcome()
    with contextlib.closing(routine):
        while True:
            going, request = outcome.resume(routine)
            if not going:
                return request  # type: ignore[no-any-return]
            try:
                outcome = _Outcome(perform(request))
            except Exception as error:
                outcome = _Outcome(error=error)


async def drive_async(routine: Generator[Y, Any, T], perform: Callable[[Y], Awaitable[Any]]) -> T:
    """``drive``, awaiting each request's performance."""
    outcome = _Outcome()
    with contextlib.closing(routine):
        while True:
            going, request = outcome.resume(routine)
            if not going:
                return request  # type: ignore[no-any-return]
            try:
                outcome = _Outcome(await perform(request))
            except Exception as error:
                outcome = _Outcome(error=error)
