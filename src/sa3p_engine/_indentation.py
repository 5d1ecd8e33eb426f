"""How a search's indentation maps onto the file's, so a replacement can be re-indented alike.

A model often quotes code with less (or more) indentation than the file has, or with spaces where
a Makefile has tabs. ``window_indentation`` finds the one uniform change (a prefix added or
removed, possibly after converting between tabs and spaces of the width the lines imply) that
turns the search's lines into the file's; ``fuzzy_indentation`` guesses it from the first
non-blank lines when the lines differ. ``Indentation.apply`` gives a replacement line the same
change.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Indentation", "fuzzy_indentation", "window_indentation"]


@dataclass(frozen=True, slots=True)
class Indentation:
    """How the search's indentation becomes the file's, applied to each replacement line.

    ``tab_width`` > 0 first converts the line's indentation between spaces and tabs (``to_tabs``:
    the file indents with tabs where the search used spaces, as models often write a Makefile's
    recipe lines; otherwise the reverse), then ``delta`` adds or removes a uniform prefix.
    """

    delta: tuple[bool, str] = (True, "")
    tab_width: int = 0
    to_tabs: bool = True

    def apply(self, line: str) -> str:
        if self.tab_width and line.strip():
            line = _convert_indent(line, self.tab_width, to_tabs=self.to_tabs)
        return _reindent(line, self.delta)


def window_indentation(
    window: list[str], keys: list[str], search_lines: list[str], search_keys: list[str]
) -> Indentation | None:
    """The indentation change making the search equal to the window, or None if there is none:
    a uniform prefix, else a tab/space conversion (of the width the lines imply) and a prefix."""
    delta = _uniform_delta(window, keys, search_lines, search_keys)
    if delta is not None:
        return Indentation(delta)
    style = _tab_style(window, search_lines)
    if style is None:
        return None
    width, to_tabs = style
    converted = [
        _convert_indent(line, width, to_tabs=to_tabs) if line.strip() else line
        for line in search_lines
    ]
    delta = _uniform_delta(window, keys, converted, search_keys)
    return None if delta is None else Indentation(delta, width, to_tabs)


def _tab_style(window: list[str], search_lines: list[str]) -> tuple[int, bool] | None:
    """(spaces per tab, to_tabs) when one side indents with tabs and the other with spaces only.

    The width is the one the paired lines imply (spaces / tabs of the first line indented on
    both sides), else 4; the caller verifies it, so a wrong guess only means "no match".
    """
    file_indents = [_indent(line) for line in window if line.strip()]
    search_indents = [_indent(line) for line in search_lines if line.strip()]
    file_tabs = any("\t" in indent for indent in file_indents)
    search_tabs = any("\t" in indent for indent in search_indents)
    if file_tabs == search_tabs:
        return None
    tabbed, spaced = (file_indents, search_indents) if file_tabs else (search_indents, file_indents)
    for tabs, spaces in zip(tabbed, spaced, strict=False):
        count = tabs.count("\t")
        if count and spaces and "\t" not in spaces and len(spaces) % count == 0:
            return len(spaces) // count, file_tabs
    return 4, file_tabs


def _convert_indent(line: str, width: int, *, to_tabs: bool) -> str:
    indent = _indent(line)
    columns = len(indent.replace("\r", "").replace("\n", "").expandtabs(width))
    new = "\t" * (columns // width) + " " * (columns % width) if to_tabs else " " * columns
    return new + line[len(indent) :]


def _uniform_delta(
    window: list[str], keys: list[str], search_lines: list[str], search_keys: list[str]
) -> tuple[bool, str] | None:
    """The one indentation change (add?, prefix) turning the search into the window, or None."""
    delta: tuple[bool, str] | None = None
    for line, key, search_line, search_key in zip(
        window, keys, search_lines, search_keys, strict=False
    ):
        if key != search_key:
            return None
        if not key:
            continue
        here = _indent_delta(_indent(line), _indent(search_line))
        if here is None or (delta is not None and here != delta):
            return None
        delta = here
    return delta if delta is not None else (True, "")


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _indent_delta(file_indent: str, search_indent: str) -> tuple[bool, str] | None:
    if file_indent.endswith(search_indent):
        return (True, file_indent[: len(file_indent) - len(search_indent)])
    if search_indent.endswith(file_indent):
        return (False, search_indent[: len(search_indent) - len(file_indent)])
    return None


def _reindent(line: str, delta: tuple[bool, str]) -> str:
    add, prefix = delta
    if not line.strip():
        return line
    if add:
        return prefix + line
    return line[len(prefix) :] if line.startswith(prefix) else line.lstrip(" \t")


def fuzzy_indentation(window: list[str], search_lines: list[str]) -> Indentation:
    """Tab/space conversion as the lines imply, then the prefix change of the first non-blank
    line (the lines are not equal, so no uniform change can be verified)."""
    style = _tab_style(window, search_lines)
    width, to_tabs = style if style is not None else (0, True)
    if width:
        search_lines = [
            _convert_indent(line, width, to_tabs=to_tabs) if line.strip() else line
            for line in search_lines
        ]
    file_line = next((line for line in window if line.strip()), "")
    search_line = next((line for line in search_lines if line.strip()), "")
    delta = _indent_delta(_indent(file_line), _indent(search_line))
    return Indentation(delta or (True, ""), width, to_tabs)
