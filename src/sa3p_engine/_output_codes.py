"""``OutputCode``: why a command did not do what was asked, as a stable machine name.

Every output that is not ok carries one (``CommandOutput.code``): programs branch on it,
``sa3p run --json`` prints it, the model reads the sentence instead. Where a backend failed, the
code is the backend's ``ErrorCode`` value under the same name (``not_found``,
``outside_workspace``, ``write_mismatch``…); the engine's own refusals have the names below.
The values are part of the JSON contract (docs/COMMANDS.md, "JSON lines"): a value is never
renamed or reused.
"""

from __future__ import annotations

import enum

from sa3p_engine._backend import BackendError

__all__ = ["OutputCode", "failure_code"]


class OutputCode(enum.StrEnum):
    """The reason of a failed, denied or quoted output (its value is the JSON ``code``)."""

    # --- a backend failed: the values of ``ErrorCode`` (a test keeps the two in step) --------
    NOT_FOUND = "not_found"
    OUTSIDE_WORKSPACE = "outside_workspace"
    INVALID_PATH = "invalid_path"
    IS_A_DIRECTORY = "is_a_directory"
    NOT_A_DIRECTORY = "not_a_directory"
    PERMISSION_DENIED = "permission_denied"
    TOO_LARGE = "too_large"
    """Also: a file too large to edit (the engine's own limit)."""
    WRITER_CLOSED = "writer_closed"
    UNKNOWN_PROCESS = "unknown_process"
    INVALID_SIGNAL = "invalid_signal"
    SPAWN_FAILED = "spawn_failed"
    CLOSED = "closed"
    CONNECTION_LOST = "connection_lost"
    IO_ERROR = "io_error"
    WRITE_MISMATCH = "write_mismatch"

    # --- the engine's own ----------------------------------------------------------------------
    UNKNOWN_ATTRIBUTE = "unknown_attribute"
    """An attribute the command does not accept (the command was not run)."""
    BAD_ATTRIBUTE = "bad_attribute"
    """A required attribute missing, or a value that is not valid (a number, a pid, a signal),
    or two that contradict each other."""
    EMPTY_COMMAND = "empty_command"
    """A ``terminal`` command with neither a command nor a pid."""
    NOT_UTF8 = "not_utf8"
    """A body (command line, edit part, patch) or a file to edit that is not UTF-8 text."""
    BODY_TOO_LONG = "body_too_long"
    """A body longer than its limit; what was collected was dropped."""
    CUT_OFF = "cut_off"
    """The reply ended before the command's close tag: nothing of it ran."""
    NOT_CLOSED = "not_closed"
    """Another command opened before this one was closed: this one was abandoned."""
    MISPLACED_TAG = "misplaced_tag"
    """A tag or a piece of body where it means nothing (``<search>`` outside ``apply_edit``, a
    close tag without its opening tag, a close tag inside another command)."""
    PARSE_PROBLEM = "parse_problem"
    """Markup that could not be read (a malformed tag, invalid UTF-8 outside bodies)."""
    QUOTED = "quoted"
    """A command inside markdown code: shown, not run."""
    BAD_EDIT = "bad_edit"
    """An ``apply_edit`` body that is not an edit (prose, an empty search, a search equal to
    its replacement, a hunk without changes, hunks with ``expected_replacements``)."""
    BAD_PATCH = "bad_patch"
    """An ``apply_patch`` body that does not parse, or an operation that cannot apply (an Add
    onto an existing file, a Move onto one)."""
    NO_MATCH = "no_match"
    """A search, hunk or chunk found no place in the file."""
    AMBIGUOUS_MATCH = "ambiguous_match"
    """A search, hunk, chunk or anchor matched several places."""
    ALREADY_APPLIED = "already_applied"
    """The search is absent but its replacement is where it would go."""
    STALE_HASH = "stale_hash"
    """``expected_sha256`` does not match the file: it changed since it was read."""
    AMBIGUOUS_HASH = "ambiguous_hash"
    """``expected_sha256`` shorter than 12 hex digits: too short to name one content."""
    DENIED = "denied"
    """A rule of the policy, or its default, forbids the command."""
    REFUSED = "refused"
    """The command needed approval and the person asked said no."""
    APPROVAL_NEEDED = "approval_needed"
    """The command needed approval and no one could be asked."""
    OUTPUT_BUDGET = "output_budget"
    """The turn's output budget is spent: later results are one line each (a notice)."""
    BACKEND_FAILURE = "backend_failure"
    """A backend raised something other than its documented error (a bug in it)."""
    COMMAND_FAILED = "command_failed"
    """A failure built without a code (outside the engine); the engine never uses it."""


def failure_code(error: Exception) -> OutputCode:
    """The code of a backend's exception: its ``ErrorCode``'s value, else ``BACKEND_FAILURE``."""
    if isinstance(error, BackendError):
        return OutputCode(error.code.value)
    return OutputCode.BACKEND_FAILURE
