"""``read_file``: a line-numbered slice of a file, read block by block.

The file is read in ``Limits.read_block_bytes`` blocks; every block is hashed and its newlines
counted at C speed, and only blocks that overlap the requested lines are split. So the cost is
one pass over the file, and memory is one block plus the served lines, whatever the file's size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sa3p_engine._attributes import AttributeProblem, optional_int, required_path
from sa3p_engine._effects import Read, Routine
from sa3p_engine._limits import Limits
from sa3p_engine._outputs import CommandOutput, ReadFileOutput

__all__ = ["read_blocks", "run_read_file"]

_BINARY_SNIFF = 8192
_LOWEST = -(10**17)


def read_blocks(path: str, block: int, consume: Callable[[bytes], None]) -> Routine[None]:
    """Hand the file's content to ``consume`` block by block; a short block ends it."""
    offset = 0
    while True:
        data: bytes = yield Read(path, offset, block)
        if data:
            consume(data)
        if len(data) < block:
            return
        offset += len(data)


@dataclass(slots=True)
class _Window:
    """Collects lines ``start .. end`` from blocks, within the line and byte caps."""

    start: int
    end: int | None
    limits: Limits
    newlines: int = 0
    size: int = 0
    fragment: bytearray = field(default_factory=bytearray)
    lines: list[bytes] = field(default_factory=list)
    served_bytes: int = 0
    next_start: int | None = None
    truncated_line: int | None = None
    last_byte: int = 10

    @property
    def done(self) -> bool:
        return self.next_start is not None or (
            self.end is not None and self.start + len(self.lines) > self.end
        )

    def consume(self, block: bytes) -> None:
        first_line = self.newlines + 1
        count = block.count(b"\n")
        self.newlines += count
        self.size += len(block)
        self.last_byte = block[-1]
        if self.done or first_line + count < self.start:
            return  # the block ends before the window: counted, never split
        pieces = block.split(b"\n")
        if self.fragment:  # the window's current line continues in this block
            pieces[0] = bytes(self.fragment) + pieces[0]
            self.fragment.clear()
        last = pieces.pop()
        skip = max(self.start - first_line, 0)
        self._take(pieces[skip:], first_line + skip)
        if not self.done:
            self.fragment += last[: self.limits.read_max_bytes + 1]

    def finish(self) -> None:
        if self.fragment and not self.done:
            self._take([bytes(self.fragment)], self.newlines + 1)
        self.fragment.clear()

    def _take(self, lines: list[bytes], number: int) -> None:
        """Serve complete lines ``number, number + 1, …`` within the end line and the caps."""
        if self.end is not None:
            lines = lines[: max(self.end - number + 1, 0)]
        candidates = lines[: self.limits.read_max_lines - len(self.lines)]
        fits = _fitting(candidates, self.limits.read_max_bytes - self.served_bytes)
        if fits == 0 and lines and not self.lines:  # one overlong line: serve its start
            self.lines.append(lines[0][: self.limits.read_max_bytes])
            self.truncated_line = number
            fits, self.served_bytes = 1, self.limits.read_max_bytes
        else:
            self.lines.extend(candidates[:fits])
            self.served_bytes += sum(map(len, candidates[:fits])) + fits
        if fits < len(lines):
            self.next_start = number + fits

    @property
    def total_lines(self) -> int:
        return self.newlines + (1 if self.size and self.last_byte != ord("\n") else 0)


def _fitting(lines: list[bytes], room: int) -> int:
    """How many of ``lines`` (each with its newline) fit in ``room`` bytes."""
    if sum(map(len, lines)) + len(lines) <= room:
        return len(lines)  # the usual case, at C speed
    used = 0
    for count, line in enumerate(lines):
        used += len(line) + 1
        if used > room:
            return count
    return len(lines)


def run_read_file(attributes: Mapping[str, str], limits: Limits) -> Routine[CommandOutput]:
    """Run one ``read_file`` command (backend errors propagate to the engine)."""
    request = _request(attributes)
    if isinstance(request, AttributeProblem):
        return CommandOutput(
            command="read_file", ok=False, error=request.message, code=request.code
        )
    path, start, end = request
    window = _Window(start=max(start, 1), end=end, limits=limits)
    hasher = hashlib.sha256()
    sniff = bytearray()

    def consume(block: bytes) -> None:
        hasher.update(block)
        if len(sniff) < _BINARY_SNIFF:
            sniff.extend(block[: _BINARY_SNIFF - len(sniff)])
        window.consume(block)

    yield from read_blocks(path, limits.read_block_bytes, consume)
    window.finish()
    return _output(path, (start, end), window, hasher.hexdigest(), b"\x00" in sniff)


def _request(attributes: Mapping[str, str]) -> tuple[str, int, int | None] | AttributeProblem:
    path = required_path("read_file", attributes)
    start = optional_int("read_file", attributes, "start_line", minimum=_LOWEST)
    end = optional_int("read_file", attributes, "end_line", minimum=_LOWEST)
    for value in (path, start, end):
        if isinstance(value, AttributeProblem):
            return value
    assert isinstance(path, str) and not isinstance(start, AttributeProblem)
    assert not isinstance(end, AttributeProblem)
    if start is not None and end is not None and end < start:
        return AttributeProblem(
            f'end_line="{end}" is before start_line="{start}" (in <read_file path="{path}">)'
        )
    return path, 1 if start is None else start, end


def _output(
    path: str, requested: tuple[int, int | None], window: _Window, sha256: str, binary: bool
) -> ReadFileOutput:
    text = _decode(window.lines) if not binary else None
    first = window.start if window.lines else 0
    last = first + len(window.lines) - 1 if window.lines else 0
    return ReadFileOutput(
        command="read_file",
        ok=True,
        subject=path,
        path=path,
        requested=requested,
        served=(first, last),
        total_lines=window.total_lines,
        size=window.size,
        sha256=sha256,
        content="" if text is None else _numbered(text, first),
        binary=text is None,
        warnings=_warnings(requested, window),
        next_start_line=window.next_start,
    )


def _decode(lines: list[bytes]) -> list[str] | None:
    try:
        text = b"\n".join(lines).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if text.endswith("\r"):
            text = text[:-1]
    return text.split("\n") if lines else []


def _numbered(lines: list[str], first: int) -> str:
    width = len(str(first + len(lines) - 1))
    template = f"{{:>{width}}} | {{}}\n"
    return "".join(map(template.format, range(first, first + len(lines)), lines))


def _warnings(requested: tuple[int, int | None], window: _Window) -> tuple[str, ...]:
    start, end = requested
    total = window.total_lines
    warnings: list[str] = []
    if start < 1:
        warnings.append(f"start_line {start} is before line 1: served from line 1")
    if start > total:
        warnings.append(f"start_line {start} is past the end: the file has {total} lines")
    elif end is not None and end > total:
        warnings.append(f"end_line {end} is past the end: served up to line {total}")
    if window.truncated_line is not None:
        warnings.append(
            f"line {window.truncated_line} is longer than {window.limits.read_max_bytes} bytes "
            f"and was cut"
        )
    return tuple(warnings)
