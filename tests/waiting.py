"""Waiting on a condition with a deadline: the one way the tests wait, never a fixed sleep.

Each helper checks its condition at once, then every ``POLL`` seconds; it returns as soon as
the condition holds and fails the test (``AssertionError`` naming ``what`` and the seconds)
once ``seconds`` have passed without it. What the condition raises propagates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import anyio

T = TypeVar("T")

POLL = 0.01


def _failure(seconds: float, what: str) -> AssertionError:
    return AssertionError(f"still waiting after {seconds} s for {what}")


def wait_for(produce: Callable[[], T | None], seconds: float, what: str) -> T:
    """The first value of ``produce()`` that is not None."""
    give_up = time.monotonic() + seconds
    while (value := produce()) is None:
        if time.monotonic() >= give_up:
            raise _failure(seconds, what)
        time.sleep(POLL)
    return value


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Return as soon as ``condition()`` holds."""
    give_up = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= give_up:
            raise _failure(seconds, what)
        time.sleep(POLL)


async def wait_until_async(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """``wait_until`` in an async test: polls with ``anyio.sleep``, so the loop runs meanwhile."""
    give_up = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= give_up:
            raise _failure(seconds, what)
        await anyio.sleep(POLL)
