"""Reading an ``apply_edit`` body into edits, whatever format the model used — or refusing it.

Formats, one per command:

1. ``<search>…</search><replace>…</replace>`` pairs (raw bodies, byte-exact; the parser already
   dropped the one newline right after each opening tag, so the text may start on its own line).
2. Conflict-marker blocks: a ``<<<<<<< SEARCH`` line, the old lines, ``=======``, the new lines,
   ``>>>>>>> REPLACE``. Runs of 5 to 9 marker characters are accepted, and ``SEARCH>``.
3. A unified diff: hunks under ``@@ -N,M +K,L @@``, ``@@ … @@``, ``@@ ... @@``, a bare ``@@`` or
   ``@@ <anchor line>`` headers; `` context``, ``-old`` and ``+new`` lines; ``\\ No newline at end
   of file``; ``diff``/``index``/``---``/``+++`` headers naming this file. A hunk's line numbers are
   only hints; it is located by its lines (see ``_diff_hunks``), and its context is never written.

**Nothing is dropped silently.** Outside the edits, a body may hold only blank lines, markdown
fence lines (```` ``` ````, ```` ```diff ````, ``~~~``: a fenced copy of an edit means the same as
the edit) and a line naming the file being edited. Any other line — prose, a marker the parser
does not know (``<<<< SEARCH``), a diff line outside a hunk, a second ``=======`` in a block —
refuses the whole command, naming the body line.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from sa3p_engine._diff_hunks import Hunk, HunkLine, LineKind

__all__ = [
    "BodyPart",
    "Edit",
    "EditPair",
    "HunkBuilder",
    "is_fence",
    "parse_edit_body",
    "read_hunk_header",
    "same_path",
]

_MARKER_START = re.compile(r"^<{5,9}[ \t]*(?:SEARCH[ \t]*>?)?[ \t]*$", re.IGNORECASE)
_MARKER_MIDDLE = re.compile(r"^={5,9}[ \t]*$")
_MARKER_END = re.compile(r"^>{5,9}[ \t]*(?:REPLACE)?[ \t]*$", re.IGNORECASE)
_MARKER_LIKE = re.compile(r"^(?:<{4,}|={4,}|>{4,})")
_FENCE = re.compile(r"^[ \t]*(?:`{3,}[^`]*|~{3,}.*)$")
_HUNK_HEADER = re.compile(r"^@@(?!@)(?P<rest>.*)$")
_NUMBERED = re.compile(r"^\s*-(\d+)(?:,\d+)?\s+\+\d+(?:,\d+)?\s*@@(?P<section>.*)$")
_ELLIPSIS = re.compile(r"^\s*(?:\.\.\.|…)\s*(?:@@(?P<section>.*))?$")
_PATH_LABEL = re.compile(r"^(?:#+\s*)?(?:(?:file|path)\s*:\s*)?[`*\"']*(.*?)[`*\"':]*$", re.I)
_DIFF_PREAMBLE = ("diff ", "index ")
_NO_NEWLINE = "\\"


@dataclass(frozen=True, slots=True)
class BodyPart:
    """A piece of an apply_edit body: ``kind`` is ``text``, ``search`` or ``replace``."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EditPair:
    """One search text and its literal replacement."""

    search: str
    replace: str


Edit = EditPair | Hunk
"""One edit of an ``apply_edit``: a search/replace pair (formats 1, 2) or a diff hunk (3)."""


def parse_edit_body(parts: list[BodyPart], path: str) -> list[Edit] | str:
    """The edits the body holds, in order, or a message saying what is wrong with it (and where).

    Args:
        parts: the body as collected: text and ``<search>``/``<replace>`` parts.
        path: the file being edited (a line naming it may stand outside the edits).
    """
    tagged = [part for part in parts if part.kind != "text"]
    text = "".join(part.text for part in parts if part.kind == "text")
    if tagged:
        if text.strip():
            return (
                "the body mixes <search>/<replace> pairs with other text; use one format per "
                "apply_edit"
            )
        return _tagged_pairs(tagged)
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if any(_MARKER_START.match(line) for line in lines):
        return _conflict_pairs(lines, path)
    if any(_HUNK_HEADER.match(line) for line in lines):
        return _DiffReader(lines, path).read()
    if not text.strip():
        return "the edit is empty: give <search>/<replace> pairs, conflict-marker blocks or a diff"
    if any(line.strip() == "*** Begin Patch" for line in lines):
        return "this is a V4A patch (*** Begin Patch): send it as <apply_patch>…</apply_patch>"
    first = next(number for number, line in enumerate(lines, start=1) if line.strip())
    return (
        f"no edits found (line {first} of the body is {lines[first - 1].strip()[:60]!r}): use "
        f"<search>old</search><replace>new</replace> pairs, <<<<<<< SEARCH / ======= / "
        f">>>>>>> REPLACE blocks, or unified diff hunks (@@ … @@)"
    )


def same_path(written: str, path: str) -> bool:
    """Whether ``written`` (from a diff header or a label line) names ``path``."""
    written = posixpath.normpath(written.strip().replace("\\", "/"))
    wanted = posixpath.normpath(path.strip().replace("\\", "/"))
    return written == wanted or written.endswith(f"/{wanted}") or wanted.endswith(f"/{written}")


def _names_path(line: str, path: str) -> bool:
    label = _PATH_LABEL.match(line.strip())
    return label is not None and bool(label.group(1)) and same_path(label.group(1), path)


def is_fence(line: str) -> bool:
    """A markdown fence line (```` ``` ````, ```` ```diff ````, ``~~~``), never edit content."""
    return bool(_FENCE.match(line))


def _is_filler(line: str, path: str) -> bool:
    """Lines allowed outside the edits: blank, a markdown fence, the file's name."""
    return not line.strip() or is_fence(line) or _names_path(line, path)


def _unrecognised(number: int, line: str, what: str) -> str:
    return (
        f"line {number} of the body is not part of an edit ({line.strip()[:60]!r}{what}); "
        f"nothing was applied. Outside the edits only blank lines, ``` fences and the file's "
        f"name may stand"
    )


# --- 1: tags ----------------------------------------------------------------------------------


def _tagged_pairs(parts: list[BodyPart]) -> list[Edit] | str:
    pairs: list[Edit] = []
    for index in range(0, len(parts), 2):
        number = index // 2 + 1
        search = parts[index]
        if search.kind != "search":
            return f"edit {number}: expected <search> before <replace>"
        if index + 1 >= len(parts) or parts[index + 1].kind != "replace":
            return f"edit {number}: <search> must be followed by its <replace>"
        pairs.append(EditPair(search=search.text, replace=parts[index + 1].text))
    return pairs


# --- 2: conflict markers ----------------------------------------------------------------------


def _conflict_pairs(lines: list[str], path: str) -> list[Edit] | str:
    pairs: list[Edit] = []
    section: list[str] | None = None
    old: list[str] = []
    new: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        if section is None:
            if _MARKER_START.match(line):
                old, new, start = [], [], number
                section = old
            elif not _is_filler(line, path):
                return _unrecognised(number, line, _marker_hint(line))
            continue
        problem = _marker_out_of_place(line, section is old, number, start)
        if problem is not None:
            return problem
        if section is old and _MARKER_MIDDLE.match(line):
            section = new
        elif section is new and _MARKER_END.match(line):
            pairs.append(EditPair(search=_joined(old), replace=_joined(new)))
            section = None
        else:
            section.append(line)
    if section is not None:
        return (
            f"the conflict-marker block starting at body line {start} is not closed: it needs "
            f"======= and >>>>>>> REPLACE lines"
        )
    return pairs


def _marker_out_of_place(line: str, in_search: bool, number: int, start: int) -> str | None:
    """A marker line that cannot stand here (a doubled =======, a block opened twice…)."""
    if _MARKER_START.match(line):
        return (
            f"line {number} of the body opens a new <<<<<<< SEARCH block before the block "
            f"opened at line {start} was closed with >>>>>>> REPLACE"
        )
    if in_search and _MARKER_END.match(line):
        return (
            f"line {number} of the body closes the block opened at line {start} before its ======="
        )
    if not in_search and _MARKER_MIDDLE.match(line):
        return (
            f"line {number} of the body is a second ======= in the block opened at line {start}; "
            f"a block has one divider (if the text itself has such a line, use <search>/<replace>)"
        )
    return None


def _marker_hint(line: str) -> str:
    if _MARKER_MIDDLE.match(line) or _MARKER_END.match(line):
        return ": a marker outside a <<<<<<< SEARCH block"
    if _MARKER_LIKE.match(line):
        return ": markers are runs of 5 to 9 characters, <<<<<<< SEARCH"
    return ""


def _joined(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


# --- 3: unified diff --------------------------------------------------------------------------


def read_hunk_header(line: str) -> tuple[int | None, tuple[str, ...]] | None:
    """(hint line, anchors) of an ``@@`` header line, or None when ``line`` is not one.

    ``@@ -N,M +K,L @@ <section>``, ``@@ … @@``, ``@@ ... @@``, a bare ``@@`` and ``@@ <anchor>``
    (also ``@@ <anchor> @@``); the text after the closing ``@@`` (git's function line) and an
    ``@@ <anchor>`` line both become an anchor.
    """
    header = _HUNK_HEADER.match(line)
    if header is None:
        return None
    rest = header.group("rest")
    numbered = _NUMBERED.match(rest)
    ellipsis = _ELLIPSIS.match(rest)
    hint: int | None = None
    if numbered:
        hint, anchor = int(numbered.group(1)), numbered.group("section")
    elif ellipsis:
        anchor = ellipsis.group("section") or ""
    else:
        anchor = rest.rstrip().removeprefix(" ").removesuffix("@@")
    return hint, (anchor.rstrip(),) if anchor.strip() else ()


_KINDS = {kind.value: kind for kind in LineKind}


class HunkBuilder:
    """Collects the lines of one hunk (unified diff or V4A chunk) into a ``Hunk``.

    `` ``, ``-`` and ``+`` lines; ``\\ No newline at end of file`` after the line it concerns;
    an empty line is an empty context line (editors drop the lone space), except at the end of
    the hunk, where blank lines only separate it from what follows.
    """

    def __init__(
        self, *, anchors: tuple[str, ...] = (), hint: int | None = None, body_line: int = 0
    ) -> None:
        self.lines: list[HunkLine] = []
        self.anchors = anchors
        self.hint = hint
        self.body_line = body_line
        self.old_ends_open = False
        self.new_ends_open = False
        self.trailing_blanks = 0

    def take(self, line: str) -> bool:
        """Add ``line``; False when it is not a hunk line (nothing is added)."""
        marker = line[:1]
        if marker in _KINDS:
            self.lines.append(HunkLine(_KINDS[marker], line[1:]))
            self.trailing_blanks = 0
        elif marker == _NO_NEWLINE and self.lines:
            kind = self.lines[-1].kind
            self.old_ends_open |= kind is not LineKind.ADDED
            self.new_ends_open |= kind is not LineKind.REMOVED
        elif not line.strip():
            self.lines.append(HunkLine(LineKind.CONTEXT, ""))
            self.trailing_blanks += 1
        else:
            return False
        return True

    def finish(self, *, at_end: bool = False) -> Hunk | str:
        """The hunk, or why it is not one ("has no lines", "changes nothing …")."""
        lines = self.lines
        if not at_end and self.trailing_blanks:
            lines = lines[: len(lines) - self.trailing_blanks]
        if not any(line.kind is not LineKind.CONTEXT for line in lines):
            return "has no lines" if not lines else "changes nothing (no + or - lines)"
        ends_open = self.old_ends_open or self.new_ends_open
        return Hunk(
            lines=tuple(lines),
            anchors=self.anchors,
            at_end=at_end or ends_open,
            final_newline=(not self.new_ends_open) if ends_open else None,
            hint_line=self.hint,
            body_line=self.body_line,
        )


class _DiffReader:
    """Reads a unified diff body line by line into hunks (or the first problem)."""

    def __init__(self, lines: list[str], path: str) -> None:
        self.lines = lines
        self.path = path
        self.hunks: list[Edit] = []
        self.current: HunkBuilder | None = None

    def read(self) -> list[Edit] | str:
        index = 0
        while index < len(self.lines):
            line, number = self.lines[index], index + 1
            header = read_hunk_header(line)
            if header is not None and self.current is not None and not self.current.lines:
                self.current.anchors += header[1]  # consecutive @@ lines narrow the scope
                self.current.hint = header[0] if header[0] is not None else self.current.hint
                problem = None
            elif header is not None:
                problem = self._close()
                self.current = HunkBuilder(anchors=header[1], hint=header[0], body_line=number)
            elif (
                line.startswith("--- ")
                and self.lines[index + 1 : index + 2] != []
                and (self.lines[index + 1].startswith("+++ "))
            ):
                problem = self._close() or self._file_header(line, self.lines[index + 1], number)
                index += 1
            elif self.current is not None and is_fence(line):
                problem = self._close()  # a fence closing a fenced diff, never a context line
            elif self.current is not None:
                taken = self.current.take(line)
                hint = ": a hunk line starts with ' ' (context), '-' or '+'"
                problem = None if taken else _unrecognised(number, line, hint)
            elif _is_filler(line, self.path) or line.startswith(_DIFF_PREAMBLE):
                problem = None
            else:
                problem = _unrecognised(number, line, "")
            if problem is not None:
                return problem
            index += 1
        return self._close() or self.hunks

    def _file_header(self, old: str, new: str, number: int) -> str | None:
        names = [_header_path(old[4:]), _header_path(new[4:])]
        if "/dev/null" in names:
            return (
                f"line {number} of the body: the diff creates or deletes a file; use write_file, "
                f"or apply_patch (*** Add File / *** Delete File)"
            )
        if not any(same_path(name, self.path) for name in names):
            return (
                f"line {number} of the body: the diff is for {names[1]!r}, not {self.path!r}; "
                f"apply_edit changes one file (use apply_patch for several)"
            )
        return None

    def _close(self) -> str | None:
        builder, self.current = self.current, None
        if builder is None:
            return None
        hunk = builder.finish()
        if isinstance(hunk, str):
            return f"the hunk at line {builder.body_line} of the body {hunk}"
        self.hunks.append(hunk)
        return None


def _header_path(text: str) -> str:
    name = text.split("\t", 1)[0].strip()
    for prefix in ("a/", "b/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name
