"""Terminal output as the model should read it: what a screen would show, as plain text.

Programs write for terminals: colours and cursor moves (ANSI escape sequences), progress bars
redrawn with carriage returns (``10%\\r20%\\r100%``), lines cleared with ``ESC [ K``. A model
reading those bytes sees noise, and a progress bar of 1,000 steps costs 1,000 times its line.
``clean_terminal_text`` keeps what the line would show in the end: escape sequences removed
(ECMA-48 CSI; OSC, DCS, SOS, PM and APC strings up to their terminator, or to the end when it
never comes; two-character escapes), bells dropped, ``\\r\\n`` read as a line end, and within a
line each carriage return moving back to its start so later text overwrites earlier text, a
backspace moving back one character, ``ESC[nG`` moving to column n, and ``ESC[K`` / ``ESC[1K`` /
``ESC[2K`` blanking the rest of the line, its start up to the cursor, or all of it. Moves to
other lines (``ESC[A``...) and sideways (``ESC[C``, ``ESC[D``) are dropped: a line at a time
cannot replay them. Lines without ``\\r``, ``\\b``, BEL or ``ESC`` (nearly all) pass through
untouched, at ``str.split`` speed.
"""

from __future__ import annotations

import re

__all__ = ["clean_terminal_text"]

_ESCAPE = re.compile(
    r"""
    \x1b\[ [0-?]* [ -/]* [@-~]          # CSI: parameters, intermediates, final byte
    | \x1b [\]PX^_] [^\x07\x1b]* (?: \x07 | \x1b\\ )?  # OSC, DCS, SOS, PM, APC strings
    | \x1b\[? [0-?]* [ -/]* \Z           # a sequence cut off at the end of the text
    | \x1b [ -/]* [0-~]                  # two-character escapes (charset, keypad, …)
    | \x07                               # a bell
    """,
    re.VERBOSE,
)
_WIDEST = 1024
"""The widest line ``ESC[nG`` can move along (a hostile ``n`` must not cost memory)."""
_LINE_EDIT = re.compile(r"\x1b\[(\d*)([GK])")
_NEEDS_WORK = re.compile(r"[\r\x07\x08\x1b]")
_LINE_TOKENS = re.compile(r"\r|\x08|\x1b\[\d*[GK]|[^\r\x08\x1b]+|\x1b")


def clean_terminal_text(text: str) -> str:
    """``text`` as a terminal would finally show it, without escape sequences (see the module
    docstring). Text without ``\\r``, ``\\b``, BEL or ``ESC`` is returned as it is."""
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
            edit = _LINE_EDIT.fullmatch(token)
            if edit is not None:
                cursor = _edited(screen, cursor, int(edit.group(1) or 0), edit.group(2))
        else:
            if cursor > len(screen):
                screen.extend(" " * (cursor - len(screen)))
            screen[cursor : cursor + len(token)] = token
            cursor += len(token)
    return "".join(screen).rstrip(" ")


def _edited(screen: list[str], cursor: int, number: int, final: str) -> int:
    """Apply ``ESC[{number}{final}`` to the line; the cursor after it."""
    if final == "G":  # a column past any screen's width stops at its edge, as on a screen
        return min(max(number, 1), _WIDEST) - 1
    if number == 0:
        del screen[cursor:]
    elif number == 1:
        screen[: cursor + 1] = " " * min(cursor + 1, len(screen))
    elif number == 2:
        screen[:] = " " * len(screen)
    return cursor


def _kept(sequence: str) -> str:
    """What an escape sequence leaves for the line pass: a column move or a line erase is kept
    (they matter once the carriage returns are replayed), everything else goes."""
    return sequence if _LINE_EDIT.fullmatch(sequence) else ""
