"""A capped record of a process's output: the first bytes, the last bytes, and the total.

A flood (``yes``) costs at most ``head_limit + 2 * tail_limit`` bytes however long it runs: the
head fills first, then the tail keeps the newest bytes, trimmed only when it has grown to twice
its limit (so the trimming copy is amortised, never one copy per chunk). ``take`` hands out what
arrived since the previous ``take`` and starts a new segment, which is how a detached process's
later output is read piece by piece. Thread-safe: a reader thread appends, callers take.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["CappedOutput", "OutputSegment"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputSegment:
    """Output since the previous ``take``: ``head`` + (omitted bytes) + ``tail``."""

    head: bytes
    tail: bytes
    total_bytes: int


class CappedOutput:
    """Head and tail of a byte stream, with its total length.

    Args:
        limit: bytes kept per segment; half for the head, half for the tail.
    """

    def __init__(self, limit: int = 256 * 1024) -> None:
        if limit < 2:
            raise ValueError(f"output limit must be at least 2 bytes, not {limit}")
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._lock = threading.Lock()
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0

    def append(self, data: bytes) -> None:
        """Record ``data`` (chunk boundaries carry no meaning)."""
        with self._lock:
            self._total += len(data)
            room = self._head_limit - len(self._head)
            if room > 0:
                self._head += data[:room]
                data = data[room:]
            if data:
                self._tail += data
                if len(self._tail) > 2 * self._tail_limit:
                    del self._tail[: len(self._tail) - self._tail_limit]

    def take(self) -> OutputSegment:
        """What arrived since the last ``take``; the record starts a new segment."""
        with self._lock:
            tail = bytes(self._tail[-self._tail_limit :]) if self._tail else b""
            segment = OutputSegment(head=bytes(self._head), tail=tail, total_bytes=self._total)
            self._head = bytearray()
            self._tail = bytearray()
            self._total = 0
        return segment

    @property
    def pending_bytes(self) -> int:
        """How many bytes arrived since the last ``take``."""
        with self._lock:
            return self._total
