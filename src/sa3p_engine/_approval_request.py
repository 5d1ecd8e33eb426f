"""Asking a person: what the engine shows (``ApprovalRequest``) and what it may hear back.

An approval is an effect like a backend call: the engine core yields ``Approve(request)`` and the
driver performs it with its approver, a callable ``(request) -> bool | Approval`` (sync or, on
``AsyncEngine``, async too). The core never learns who answered or how.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

from sa3p_engine._policy import CommandKind

__all__ = ["Approval", "ApprovalRequest", "AsyncApprover", "SyncApprover", "answer_of"]


class Approval(enum.Enum):
    """An approver's answer. ``True`` means ``YES`` and ``False`` means ``NO``.

    ``ALWAYS`` runs the command and allows the same command on the same subject for the rest of
    the engine's life (the same path for the same command kind, or the very same command text):
    asks only, never a deny rule, and never a wider subject than the one shown.
    """

    YES = "yes"
    NO = "no"
    ALWAYS = "always"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequest:
    """One command waiting for a person's yes or no; nothing of it has happened yet.

    Attributes:
        command: the tag (``write_file``, ``terminal``…).
        kinds: the command classes the policy checked (``write``, and ``read`` for an edit that
            shows the file…).
        paths: the normalised workspace paths the command touches (file commands).
        text: the command text (terminal and signal commands), else "".
        change: what would change: the diff of an ``apply_edit`` or ``apply_patch`` (computed
            from the files as they are now), the content of a ``write_file``; "" for others.
        rule_index: the 1-based number of the rule that asks (None: the policy's default).
        rule: that rule as written, or ``default = "ask"``.
        always: what answering ``Approval.ALWAYS`` would allow from now on, in words.
    """

    command: str
    kinds: tuple[CommandKind, ...]
    paths: tuple[str, ...] = ()
    text: str = ""
    change: str = ""
    rule_index: int | None = None
    rule: str = ""
    always: str = ""

    def __post_init__(self) -> None:
        if not self.command:
            raise ValueError("an approval request names its command")


SyncApprover: TypeAlias = Callable[[ApprovalRequest], "bool | Approval"]
"""Answers a request (may block, e.g. reading a terminal)."""

AsyncApprover: TypeAlias = Callable[[ApprovalRequest], Awaitable["bool | Approval"]]
"""Answers a request, awaited (``AsyncEngine`` only)."""


def answer_of(value: object) -> Approval:
    """An approver's return value as an ``Approval``.

    Raises:
        TypeError: anything but a bool or an ``Approval`` (an approver's bug; the command is then
            not run).
    """
    if isinstance(value, Approval):
        return value
    if isinstance(value, bool):
        return Approval.YES if value else Approval.NO
    raise TypeError(f"an approver returns a bool or an Approval, not {value!r}")
