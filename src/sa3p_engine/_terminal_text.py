"""Terminal output as the model should read it: what a screen would show, as plain text.

Programs write for terminals: colours and cursor moves (ANSI escape sequences), progress bars
redrawn with carriage returns (``10%\\r20%\\r100%``), lines cleared with ``ESC [ K``. A model
reading those bytes sees noise, and a progress bar of 1,000 steps costs 1,000 times its line.
``clean_terminal_text`` keeps what the line would show in the end: escape sequences removed
(ECMA-48 CSI, OSC, and two-character escapes), ``\\r\\n`` read as a line end, and within a line
each carriage return moving back to its start so later text overwrites earlier text, ``ESC[K``
clearing the rest of the line and a backspace moving back one character. Lines without ``\\r``,
``\\b`` or ``ESC`` (nearly all) pass through untouched, at ``str.split`` speed.
"""

from __future__ import annotations

import re

__all__ = ["clean_terminal_text"]

_ESCAPE = re.compile(
    r"""
    \x1b\[ [0-?]* [ -/]* [@-~]          # CSI: parameters, intermediates, final byte
    | \x1b\] .{0,1024}? (?: \x07 | \x1b\\ )  # OSC: up to BEL or ST (bounded: no rescans)
    | \x1b\[? [0-?]* [ -/]* \Z           # a sequence cut off at the end of the text
    | \x1b [ -/]* [0-~]                  # two-character escapes (charset, keypad, …)
    """,
    re.VERBOSE | re.DOTALL,
)
_CLEAR_LINE = re.compile(r"\x1b\[[012]?K")
_NEEDS_WORK = re.compile(r"[\r\x08\x1b]")
_LINE_TOKENS = re.compile(r"\r|\x08|\x1b\[[012]?K|[^\r\x08\x1b]+|\x1b")


def clean_terminal_text(text: str) -> str:
    """``text`` as a terminal would finally show it, without escape sequences (see the module
    docstring). Text without ``\\r``, ``\\b`` or ``ESC`` is returned as it is."""
    if _NEEDS_WORK.search(text) is None:
        return text
    text = text.replace("\r\n", "\n")
    return "\n".join(_line(line) for line in text.split("\n"))


def _line(line: str) -> str:
    if _NEEDS_WORK.search(line) is None:
        return line
    line = _ESCAPE.sub(lambda match: _kept(match.group()), line)
    if "\r" not in line and "\b" not in line and "\x1b" not in line:
        return line
    screen: list[str] = []
    cursor = 0
    for token in _LINE_TOKENS.findall(line):
        if token == "\r":
            cursor = 0
        elif token == "\b":
            cursor = max(cursor - 1, 0)
        elif token.startswith("\x1b"):
            if token != "\x1b":
                del screen[cursor:]  # ESC[K: clear to the end of the line
        else:
            screen[cursor : cursor + len(token)] = token
            cursor += len(token)
    return "".join(screen).rstrip(" ") if screen else ""


def _kept(sequence: str) -> str:
    """What an escape sequence leaves for the line pass: a clear-line is kept (it matters once
    the carriage returns are replayed), everything else goes."""
    return sequence if _CLEAR_LINE.fullmatch(sequence) else ""
