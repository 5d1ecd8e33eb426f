"""``LiveRelay``: a terminal's ``on_output``, called as its contract says.

``sa3p_engine.OutputCallback`` promises the backends' callers that an exception raised by their
callback stops the live output of that run, never the run itself. Every terminal (the local
one, the remote client's routines) relays through this one class, so that promise is kept in
one place.
"""

from __future__ import annotations

from sa3p_engine import OutputCallback

__all__ = ["LiveRelay"]


class LiveRelay:
    """Pass each piece of output to ``callback`` until it raises (then drop the rest)."""

    __slots__ = ("_callback",)

    def __init__(self, callback: OutputCallback) -> None:
        self._callback: OutputCallback | None = callback

    def __call__(self, data: bytes) -> None:
        callback = self._callback
        if callback is None or not data:
            return
        try:
            callback(data)
        except Exception:  # the caller's failure ends its live view, not the command
            self._callback = None


def maybe_relay(callback: OutputCallback | None) -> LiveRelay | None:
    """A relay for ``callback``, or None without one."""
    return None if callback is None else LiveRelay(callback)
