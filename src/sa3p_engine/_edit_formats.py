"""Reading an ``apply_edit`` body into search/replace pairs, whatever format the model used.

Formats, in the order they are recognised:

1. ``<search>…</search><replace>…</replace>`` pairs (raw bodies, byte-exact; the parser already
   dropped the one newline right after each opening tag, so the text may start on its own line).
2. Conflict-marker blocks: a ``<<<<<<< SEARCH`` line, the old lines, ``=======``, the new lines,
   ``>>>>>>> REPLACE``. Text outside blocks (a file name, prose) is ignored.
3. A unified diff: ``@@ … @@`` hunks of `` context``, ``-old`` and ``+new`` lines; ``---``/``+++``
   headers are skipped. A hunk's line numbers are only hints: it is located by its content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sa3p_engine._edit_tiers import split_lines

__all__ = ["BodyPart", "EditPair", "parse_edit_body"]

_CONFLICT_START = re.compile(r"^<{7}<*(?:[ \t]*SEARCH)?[ \t]*$")
_CONFLICT_MIDDLE = re.compile(r"^={7}=*[ \t]*$")
_CONFLICT_END = re.compile(r"^>{7}>*(?:[ \t]*REPLACE)?[ \t]*$")
_HUNK_HEADER = re.compile(r"^@@ ?(?:-(\d+)(?:,\d+)? \+\d+(?:,\d+)? )?@@")


@dataclass(frozen=True, slots=True)
class BodyPart:
    """A piece of an apply_edit body: ``kind`` is ``text``, ``search`` or ``replace``."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EditPair:
    """One search text and its literal replacement; ``hint_line`` from a diff hunk, if any."""

    search: str
    replace: str
    hint_line: int | None = None


def parse_edit_body(parts: list[BodyPart]) -> list[EditPair] | str:
    """The pairs the body holds, or a message saying what is wrong with it."""
    tagged = [part for part in parts if part.kind != "text"]
    text = "".join(part.text for part in parts if part.kind == "text")
    if tagged:
        if text.strip():
            return (
                "the body mixes <search>/<replace> pairs with other text; use one format per "
                "apply_edit"
            )
        return _tagged_pairs(tagged)
    lines = [line.rstrip("\r\n") for line in split_lines(text)]
    if any(_CONFLICT_START.match(line) for line in lines):
        return _conflict_pairs(lines)
    if any(_HUNK_HEADER.match(line) for line in lines):
        return _diff_pairs(lines)
    if not text.strip():
        return "the edit is empty: give <search>/<replace> pairs, conflict-marker blocks or a diff"
    return (
        "no edits found in the body: use <search>old</search><replace>new</replace> pairs, "
        "<<<<<<< SEARCH / ======= / >>>>>>> REPLACE blocks, or unified diff hunks (@@ … @@)"
    )


def _tagged_pairs(parts: list[BodyPart]) -> list[EditPair] | str:
    pairs: list[EditPair] = []
    for index in range(0, len(parts), 2):
        number = index // 2 + 1
        search = parts[index]
        if search.kind != "search":
            return f"edit {number}: expected <search> before <replace>"
        if index + 1 >= len(parts) or parts[index + 1].kind != "replace":
            return f"edit {number}: <search> must be followed by its <replace>"
        pairs.append(EditPair(search=search.text, replace=parts[index + 1].text))
    return pairs


def _conflict_pairs(lines: list[str]) -> list[EditPair] | str:
    pairs: list[EditPair] = []
    section: list[str] | None = None
    old: list[str] = []
    new: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        if section is None and _CONFLICT_START.match(line):
            old, new, start = [], [], number
            section = old
        elif section is old and _CONFLICT_MIDDLE.match(line):
            section = new
        elif section is new and _CONFLICT_END.match(line):
            pairs.append(EditPair(search=_joined(old), replace=_joined(new)))
            section = None
        elif section is not None:
            section.append(line)
    if section is not None:
        return (
            f"the conflict-marker block starting at body line {start} is not closed: it needs "
            f"======= and >>>>>>> REPLACE lines"
        )
    return pairs


def _joined(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _diff_pairs(lines: list[str]) -> list[EditPair] | str:
    pairs: list[EditPair] = []
    hunk: tuple[list[str], list[str], int | None] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        header = _HUNK_HEADER.match(line)
        if header:
            _close_hunk(hunk, pairs)
            hint = int(header.group(1)) if header.group(1) else None
            hunk = ([], [], hint)
        elif line.startswith("--- ") and index + 1 < len(lines) and lines[index + 1][:4] == "+++ ":
            _close_hunk(hunk, pairs)
            hunk = None
            index += 1
        elif hunk is not None:
            _hunk_line(line, hunk[0], hunk[1])
        index += 1
    _close_hunk(hunk, pairs)
    if not pairs:
        return "the diff has no hunks: each change needs an @@ line followed by its lines"
    return pairs


def _hunk_line(line: str, old: list[str], new: list[str]) -> None:
    marker, rest = line[:1], line[1:]
    if marker == "-":
        old.append(rest)
    elif marker == "+":
        new.append(rest)
    elif marker == "\\":
        return  # "\ No newline at end of file"
    else:  # " context", or a context line whose leading space the model dropped
        text = rest if marker == " " else line
        old.append(text)
        new.append(text)


def _close_hunk(
    hunk: tuple[list[str], list[str], int | None] | None, pairs: list[EditPair]
) -> None:
    if hunk is None:
        return
    old, new, hint = hunk
    while old and new and old[-1] == "" and new[-1] == "":
        old.pop()
        new.pop()
    pairs.append(EditPair(search=_joined(old), replace=_joined(new), hint_line=hint))
