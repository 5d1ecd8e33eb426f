"""Asking the person at the controlling terminal whether a command may run.

``sa3p run`` reads the model's reply on its standard input and prints results on its standard
output, so the person is asked on ``/dev/tty``, as ``sudo`` and ``ssh`` do. Without a
controlling terminal (a pipeline under ``setsid``, CI, a service) ``/dev/tty`` cannot be opened:
there is no approver, and the engine turns every *ask* into a denial that says no one could be
asked.

Everything shown comes from the model, so it is made harmless first: control characters (an
escape sequence could repaint the prompt or fake an answer) are shown as ``\\x1b``-style escapes,
and a long change is cut to its first lines. The answer is read as a line: ``y``/``yes``,
``n``/``no`` (or an empty line: no is the default), ``a``/``always``; anything else is asked
again, a few times, then taken as no. The end of input is no.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import TextIO

from sa3p_engine import Approval, ApprovalRequest

__all__ = ["TerminalApprover", "open_terminal_approver", "shown", "terminal_approver"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_ANSWERS = {
    "y": Approval.YES,
    "yes": Approval.YES,
    "n": Approval.NO,
    "no": Approval.NO,
    "": Approval.NO,
    "a": Approval.ALWAYS,
    "always": Approval.ALWAYS,
}
_ATTEMPTS = 3


def shown(text: str) -> str:
    """``text`` with every control character (but newline and tab) as a visible escape."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class TerminalApprover:
    """An approver for ``Engine``: shows the request on ``writer``, reads the answer on ``reader``.

    Args:
        reader: where the person's answers come from (a line each).
        writer: where the question goes.
        max_lines: lines of a change (diff or content) shown; the rest is counted.
        owned: file objects to close with ``close`` (what ``open_terminal_approver`` opened).
    """

    def __init__(
        self,
        reader: TextIO,
        writer: TextIO,
        *,
        max_lines: int = 40,
        owned: tuple[TextIO, ...] = (),
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._max_lines = max_lines
        self._owned = owned

    def __call__(self, request: ApprovalRequest) -> Approval:
        """Ask about ``request``; the person's answer (no when they give none)."""
        self._writer.write(self.question(request))
        for attempt in range(_ATTEMPTS):
            prompt = (
                "Allow? [y]es, [n]o, [a]lways: " if attempt == 0 else "Please answer y, n or a: "
            )
            self._writer.write(prompt)
            self._writer.flush()
            line = self._reader.readline()
            if not line:  # the terminal went away
                self._writer.write("\n")
                return Approval.NO
            answer = _ANSWERS.get(line.strip().lower())
            if answer is not None:
                return answer
        return Approval.NO

    def question(self, request: ApprovalRequest) -> str:
        """What the person reads before answering."""
        why = f"rule {request.rule_index}: {request.rule}" if request.rule_index else request.rule
        lines = ["", f"sa3p: the policy asks before this runs ({shown(why)})"]
        subject = shown(request.text) if request.text else ", ".join(map(shown, request.paths))
        lines.append(f"  {request.command}: {subject}")
        if request.change:
            change = shown(request.change).splitlines()
            lines += [f"  | {line}" for line in change[: self._max_lines]]
            if len(change) > self._max_lines:
                lines.append(f"  | … {len(change) - self._max_lines} more lines")
        lines.append(f"  always = {shown(request.always)}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        """Close what ``open_terminal_approver`` opened (nothing for streams given to it)."""
        for stream in self._owned:
            with contextlib.suppress(OSError):
                stream.close()


def open_terminal_approver(path: str = "/dev/tty") -> TerminalApprover | None:
    """An approver on the controlling terminal; None when there is none (``path`` will not
    open), so that *ask* means *deny*."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        writer_fd = os.dup(fd)
    except OSError:
        os.close(fd)
        return None
    reader = open(fd, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by close()
    writer = open(writer_fd, "w", encoding="utf-8", errors="replace")  # noqa: SIM115
    return TerminalApprover(reader, writer, owned=(reader, writer))


@contextlib.contextmanager
def terminal_approver(path: str = "/dev/tty") -> Iterator[TerminalApprover | None]:
    """``open_terminal_approver``, closed at the end of the ``with`` block."""
    approver = open_terminal_approver(path)
    try:
        yield approver
    finally:
        if approver is not None:
            approver.close()
