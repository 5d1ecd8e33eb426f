"""The output budget of a turn: results in full until it is spent, then one line each.

A model reads every result of a turn in its next observation, and a turn can hold thousands of
commands. So a turn delivers at most ``Limits.turn_output_bytes`` of rendered results in full;
the result that would pass it, and every later one, is reduced to its first line (command,
subject, ok or failed, the key numbers) — a ``SummaryOutput`` — and one notice says so, once,
before the first reduced result. A result that already is one short line stays as it is, and so
do a denial (one line that says why and what to do instead: the model needs all of it), a
notice and a problem of the markup (one sentence each). What
the engine keeps for ``finish_turn`` is what it delivered, so its memory for a turn is the
budget plus one line per later command, never every full result.
"""

from __future__ import annotations

from sa3p_engine._output_codes import OutputCode
from sa3p_engine._outputs import (
    CommandOutput,
    DeniedOutput,
    NoticeOutput,
    ProblemOutput,
    SummaryOutput,
)

__all__ = ["OutputBudget"]

LINE_MAX = 300
"""The longest status line kept (characters); a longer first line is cut."""


class OutputBudget:
    """How much of the turn's budget is spent (mutable, owned by the engine core).

    Args:
        limit: bytes of rendered results a turn delivers in full.
    """

    __slots__ = ("exhausted", "limit", "spent")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0
        self.exhausted = False

    def admit(self, output: CommandOutput) -> list[CommandOutput]:
        """What to deliver for ``output``: itself, its reduced form, or the notice and that."""
        text = output.render()
        size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogateescape"))
        if not self.exhausted and self.spent + size <= self.limit:
            self.spent += size
            return [output]
        reduced = _reduced(output, text)
        if self.exhausted:
            return [reduced]
        self.exhausted = True
        return [self._notice(), reduced]

    def reset(self) -> None:
        """A new turn: the whole budget again."""
        self.spent = 0
        self.exhausted = False

    def _notice(self) -> NoticeOutput:
        return NoticeOutput(
            command="output_budget",
            ok=False,
            code=OutputCode.OUTPUT_BUDGET,
            error=(
                f"this turn's results passed {self.limit} bytes, about what you can read at "
                f"once: each result from here on is one status line, its output not shown. "
                f"Ask for less in one reply (fewer commands, smaller read ranges) and repeat "
                f"what you still need to see in the next one"
            ),
        )


_KEPT_WHOLE = (DeniedOutput, NoticeOutput, ProblemOutput)
"""Outputs that stay whole: a denial says why and what to do instead, a notice or a markup
problem is one sentence (and a program reading the JSON tells them apart by their class)."""


def _reduced(output: CommandOutput, text: str) -> CommandOutput:
    first, _, rest = text.partition("\n")
    if isinstance(output, _KEPT_WHOLE) or (not rest and len(first) <= LINE_MAX):
        return output
    summary = _cut(first)
    if rest:
        dropped = rest.count("\n") + 1
        summary += f" [{dropped} more line{'s' if dropped > 1 else ''} not shown]"
    error = None if output.ok else _cut((output.error or "").partition("\n")[0]) or "failed"
    return SummaryOutput(
        command=output.command,
        ok=output.ok,
        error=error,
        subject=output.subject,
        position=output.position,
        code=output.code,
        summary=summary,
    )


def _cut(line: str) -> str:
    return line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…"
