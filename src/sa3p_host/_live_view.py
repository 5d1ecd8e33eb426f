"""``LiveView``: a running command's output shown to the person at the terminal (stderr).

The model reads a command's result once it ends (capped head and tail); a person watching
``sa3p run`` wants to see it work. On a terminal the view is compact and redrawn in place: one
status line with the command and the seconds elapsed (ticking while the command is silent),
and its last few lines of output; it is erased before the result is printed. Piped (a log, CI)
it is plain lines, each written once: ``[terminal CMD] running``, then the output's lines.
Both show the text as the model will read it (``clean_terminal_text``: no escape sequences,
overprinted lines collapsed). A line still being written (a progress bar redrawn with carriage
returns) shows in the compact view as it stands; only the last ``_PARTIAL_KEPT`` characters of
a line without its newline are kept, so a long one costs neither memory nor time. The compact
view fits each line to the terminal's width in screen columns (tabs expanded, wide characters
counted twice, control characters dropped), so a redraw never wraps.

Hand-written rather than with ``rich``: the view is a status line and a few tail lines redrawn
with three escape sequences (cursor up, carriage return, erase down), and ``rich`` would cost
``sa3p run`` ~0.1 s of start-up and a dependency for it.
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import threading
import time
import unicodedata
from typing import TextIO

from sa3p_engine import LiveOutput, clean_terminal_text

__all__ = ["LiveView"]

_TAIL_LINES = 4
_PARTIAL_KEPT = 4096
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_TICK_SECONDS = 0.25
_UP, _ERASE_DOWN = "\x1b[{}A", "\x1b[J"


class LiveView:
    """Shows ``LiveOutput`` pieces on ``err`` (see the module docstring); ``end()`` when the
    command's result is about to be printed, ``close()`` at the end of the run.

    Args:
        err: where people look (standard error).
        compact: redraw in place (``err`` is a terminal); False: plain lines.
    """

    def __init__(self, err: TextIO, *, compact: bool) -> None:
        self._err = err
        self._compact = compact
        self._lock = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._subject: str | None = None
        self._started = 0.0
        self._partial = ""
        self._tail: list[str] = []
        self._drawn = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, piece: LiveOutput) -> None:
        """Take one piece (an empty one: a command starts)."""
        with self._lock:
            if not piece.data:
                self._start(piece.subject)
                return
            if self._subject is None:
                self._start(piece.subject)
            text = self._partial + self._decoder.decode(piece.data)
            *lines, partial = text.replace("\r\n", "\n").split("\n")
            self._partial = partial[-_PARTIAL_KEPT:]
            cleaned = [clean_terminal_text(line) for line in lines]
            if self._compact:
                self._tail = [*self._tail, *cleaned][-_TAIL_LINES:]
                self._draw()
            elif cleaned:
                self._write("".join(f"{line}\n" for line in cleaned))

    def end(self) -> None:
        """The running command ended (its result follows): erase the view, or print what is
        left of a last line without its newline."""
        with self._lock:
            if self._subject is None:
                return
            rest = clean_terminal_text(self._partial + self._decoder.decode(b"", final=True))
            if self._compact:
                self._erase()
            elif rest:
                self._write(rest + "\n")
            self._subject = None
            self._partial, self._tail = "", []

    def close(self) -> None:
        """End the view and its ticking (idempotent)."""
        self.end()
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()

    def _start(self, subject: str) -> None:
        if self._subject is not None and self._compact:
            self._erase()
        self._subject, self._started = subject, time.monotonic()
        self._partial, self._tail = "", []
        self._decoder.reset()
        if not self._compact:
            self._write(f"[terminal {_fitted(subject, 100)}] running\n")
            return
        self._draw()
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="sa3p-live-view", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(_TICK_SECONDS):
            with self._lock:
                if self._subject is not None:
                    self._draw()

    def _draw(self) -> None:
        assert self._subject is not None
        width = max(self._columns() - 1, 20)
        elapsed = time.monotonic() - self._started
        status = f"▸ {_fitted(self._subject, width - 12)}  {elapsed:.1f}s"
        partial = clean_terminal_text(self._partial)
        tail = [*self._tail, partial][-_TAIL_LINES:] if partial else self._tail
        lines = [status, *(f"  {_fitted(line, width - 2)}" for line in tail)]
        self._write(self._erasure() + "\n".join(lines) + "\n")
        self._drawn = len(lines)

    def _columns(self) -> int:
        """The width of the terminal the view is drawn on (standard error's, not standard
        output's: that one may be a file)."""
        try:
            return os.get_terminal_size(self._err.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return shutil.get_terminal_size().columns

    def _erase(self) -> None:
        self._write(self._erasure())
        self._drawn = 0

    def _erasure(self) -> str:
        return (_UP.format(self._drawn) if self._drawn else "") + "\r" + _ERASE_DOWN

    def _write(self, text: str) -> None:
        try:
            self._err.write(text)
            self._err.flush()
        except (OSError, ValueError):  # people stopped watching; the run goes on
            pass


def _fitted(text: str, width: int) -> str:
    """The first line of ``text`` in at most ``width`` screen columns (cut with "…")."""
    line = _CONTROLS.sub("", text.split("\n", 1)[0].expandtabs())
    if line.isascii():
        return line if len(line) <= width else line[: max(width - 1, 1)] + "…"
    widths = [_columns_of(character) for character in line]
    if sum(widths) <= width:
        return line
    kept, used = [], 0
    for character, columns in zip(line, widths, strict=True):
        if used + columns > width - 1:
            break
        kept.append(character)
        used += columns
    return "".join(kept) + "…"


def _columns_of(character: str) -> int:
    if unicodedata.combining(character):
        return 0
    return 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1
