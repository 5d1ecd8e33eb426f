"""Reading a V4A patch — the ``apply_patch`` format of Codex CLI, which GPT-5-class models are
trained on (opencode, Cline, OpenHands, Aider and VS Code Copilot accept it too) — into file
operations. Pure: text in, values out.

Grammar (one element per line; markers start at the line's first column)::

    patch   := "*** Begin Patch" operation* "*** End Patch"
    operation := "*** Add File: " path  ("+" line)*
               | "*** Delete File: " path
               | "*** Update File: " path  ["*** Move to: " path]  chunk*
    chunk   := ("@@" | "@@ " anchor)*  (" " line | "-" line | "+" line)+  ["*** End of File"]

- Several ``@@`` lines before a chunk narrow its scope, outermost first; the first chunk may
  have none. ``@@ -N,M +K,L @@`` headers are taken too (the numbers are hints).
- An empty line inside a chunk is an empty context line; blank lines between operations or
  chunks are separators. ``\\ No newline at end of file`` after a line ends the file without a
  final newline.
- Around the envelope, only blank lines, markdown fences and a shell here-document's lines
  (``apply_patch <<'EOF'`` … ``EOF``) may stand.

Anything else is refused with the line it is on: nothing of a patch is dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sa3p_engine._diff_hunks import Hunk
from sa3p_engine._edit_formats import HunkBuilder, is_fence, read_hunk_header

__all__ = ["AddFile", "DeleteFile", "PatchOperation", "PatchProblem", "UpdateFile", "parse_patch"]

BEGIN = "*** Begin Patch"
END = "*** End Patch"
_ADD = "*** Add File:"
_DELETE = "*** Delete File:"
_UPDATE = "*** Update File:"
_MOVE = "*** Move to:"
_END_OF_FILE = "*** End of File"
_MARKER = "***"
_HEREDOC_START = re.compile(r"^\s*(?:apply_patch\s*)?<<-?\s*['\"]?EOF['\"]?\s*$")
_HEREDOC_END = "EOF"


@dataclass(frozen=True, slots=True, kw_only=True)
class AddFile:
    """Create ``path`` with ``lines`` (each given a line ending)."""

    path: str
    lines: tuple[str, ...]
    line_ending: str = "\n"
    final_newline: bool = True
    body_line: int = 0

    @property
    def content(self) -> str:
        text = self.line_ending.join(self.lines)
        return text + self.line_ending if self.lines and self.final_newline else text


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteFile:
    """Remove the file ``path``."""

    path: str
    body_line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateFile:
    """Apply ``hunks`` to ``path`` in order, then move it to ``move_to`` if given."""

    path: str
    move_to: str | None = None
    hunks: tuple[Hunk, ...] = ()
    body_line: int = 0


PatchOperation = AddFile | DeleteFile | UpdateFile


@dataclass(frozen=True, slots=True)
class PatchProblem:
    """What is wrong with the patch text, and on which line of it (1-based)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line} of the patch: {self.message}"


def parse_patch(text: str) -> tuple[PatchOperation, ...] | PatchProblem:
    """The operations of a V4A patch, in order, or the first problem in it."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    crlf = text.count("\r\n") == text.count("\n") > 0
    starts = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    if not starts:
        first = next((i for i, line in enumerate(lines) if line.strip()), 0)
        return PatchProblem(first + 1, f"a patch starts with a {BEGIN} line")
    begin = starts[0]
    ends = [i for i, line in enumerate(lines) if i > begin and line.strip() == END]
    if not ends:
        return PatchProblem(
            len(lines), f"the patch has no {END} line (was the reply cut off?); nothing applied"
        )
    end = ends[-1]
    for index in (*range(begin), *range(end + 1, len(lines))):
        if not _is_wrapper(lines[index]):
            return PatchProblem(
                index + 1,
                f"{lines[index].strip()[:60]!r} stands outside {BEGIN} … {END}; only blank "
                f"lines and ``` fences may",
            )
    return _Reader(lines, begin + 1, end, "\r\n" if crlf else "\n").read()


def _is_wrapper(line: str) -> bool:
    stripped = line.strip()
    return (
        not stripped
        or is_fence(line)
        or bool(_HEREDOC_START.match(line))
        or stripped == _HEREDOC_END
    )


class _Reader:
    """Reads the operations between the envelope's lines ``start`` and ``end`` (exclusive)."""

    def __init__(self, lines: list[str], start: int, end: int, line_ending: str) -> None:
        self.lines = lines
        self.index = start
        self.end = end
        self.line_ending = line_ending

    def read(self) -> tuple[PatchOperation, ...] | PatchProblem:
        operations: list[PatchOperation] = []
        while self.index < self.end:
            line = self.lines[self.index]
            if not line.strip():
                self.index += 1
                continue
            operation = self._operation(line)
            if isinstance(operation, PatchProblem):
                return operation
            operations.append(operation)
        return tuple(operations)

    def _operation(self, line: str) -> PatchOperation | PatchProblem:
        number = self.index + 1
        for marker, read in ((_ADD, self._add), (_DELETE, self._delete), (_UPDATE, self._update)):
            if line.startswith(marker):
                path = line[len(marker) :].strip()
                if not path:
                    return PatchProblem(number, f"{marker} needs a path after it")
                self.index += 1
                return read(path, number)
        return PatchProblem(
            number,
            f"expected {_ADD} <path>, {_DELETE} <path> or {_UPDATE} <path>, found "
            f"{line.strip()[:60]!r}",
        )

    def _add(self, path: str, number: int) -> AddFile | PatchProblem:
        content: list[str] = []
        blanks = 0
        final_newline = True
        while self.index < self.end and not self.lines[self.index].startswith(_MARKER):
            line = self.lines[self.index]
            if line.startswith("+"):
                content += [""] * blanks + [line[1:]]
                blanks = 0
            elif not line.strip():
                blanks += 1  # an empty line: content if more + lines follow, else a separator
            elif line.startswith("\\") and content:
                final_newline = False
            else:
                return PatchProblem(
                    self.index + 1, f"every line of an added file starts with + ({path})"
                )
            self.index += 1
        return AddFile(
            path=path,
            lines=tuple(content),
            line_ending=self.line_ending,
            final_newline=final_newline,
            body_line=number,
        )

    def _delete(self, path: str, number: int) -> DeleteFile | PatchProblem:
        while self.index < self.end and not self.lines[self.index].startswith(_MARKER):
            if self.lines[self.index].strip():
                return PatchProblem(self.index + 1, f"{_DELETE} {path} takes no lines after it")
            self.index += 1
        return DeleteFile(path=path, body_line=number)

    def _update(self, path: str, number: int) -> UpdateFile | PatchProblem:
        move_to: str | None = None
        if self.index < self.end and self.lines[self.index].startswith(_MOVE):
            move_to = self.lines[self.index][len(_MOVE) :].strip()
            if not move_to:
                return PatchProblem(self.index + 1, f"{_MOVE} needs a path after it")
            self.index += 1
        hunks = self._chunks()
        if isinstance(hunks, PatchProblem):
            return hunks
        if not hunks and move_to is None:
            return PatchProblem(number, f"{_UPDATE} {path} has no chunks: nothing to change")
        return UpdateFile(path=path, move_to=move_to, hunks=hunks, body_line=number)

    def _chunks(self) -> tuple[Hunk, ...] | PatchProblem:
        hunks: list[Hunk] = []
        anchors: list[str] = []
        hint: int | None = None
        builder: HunkBuilder | None = None
        while self.index < self.end:
            line, number = self.lines[self.index], self.index + 1
            if line.rstrip() == _END_OF_FILE:
                if builder is None:
                    return PatchProblem(number, f"{_END_OF_FILE} must follow a chunk's lines")
                problem = self._finish(builder, hunks, at_end=True)
                builder = None
            elif line.startswith(_MARKER):
                break
            elif (header := read_hunk_header(line)) is not None:
                problem = self._finish(builder, hunks) if builder is not None else None
                builder = None
                hint = header[0] if header[0] is not None else hint
                anchors += header[1]
            elif builder is None and not line.strip():
                problem = None  # blank lines between chunks
            else:
                if builder is None:
                    builder = HunkBuilder(anchors=tuple(anchors), hint=hint, body_line=number)
                    anchors, hint = [], None
                problem = (
                    None
                    if builder.take(line)
                    else PatchProblem(
                        number,
                        f"{line.strip()[:60]!r}: a line of a chunk starts with ' ' (context), '-' "
                        f"(removed) or '+' (added); a new chunk starts with @@",
                    )
                )
            if problem is not None:
                return problem
            self.index += 1
        if builder is not None:
            problem = self._finish(builder, hunks)
            if problem is not None:
                return problem
        if anchors:
            return PatchProblem(self.index, "an @@ line has no chunk lines after it")
        return tuple(hunks)

    @staticmethod
    def _finish(
        builder: HunkBuilder, hunks: list[Hunk], *, at_end: bool = False
    ) -> PatchProblem | None:
        hunk = builder.finish(at_end=at_end)
        if isinstance(hunk, str):
            return PatchProblem(builder.body_line, f"the chunk {hunk}")
        hunks.append(hunk)
        return None
