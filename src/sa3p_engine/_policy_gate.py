"""The engine core's use of its policy: what a command concerns, the verdict, asking, denying.

Sans-IO like the rest of the core. ``judge`` runs before any effect of a command — a
``write_file``'s at its start tag, before a writer is opened; every other command's at its close
tag, before it runs — so a denied command does nothing at all. The workspace root, needed only
to make an absolute path relative, comes from one ``Cwd`` effect, once per engine. Asking is the
``Approve`` effect: at once for reads, listings, terminal and signal commands; for an editing
command once its change is known (the diff, from files read but not yet written; a held
``write_file``'s content), through the ``Confirm`` hook. A command that is malformed (a missing
path, an empty terminal command, a patch that does not parse) is not judged: it fails on its own,
with no effect.

"Always" answers are kept here: the exact (command kind, normalised path or command text) pairs
the person allowed, which turn a later *ask* for the very same subject into an allow. They never
override a deny rule, and they live as long as the engine.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sa3p_engine._approval_request import Approval, ApprovalRequest, answer_of
from sa3p_engine._attributes import AttributeProblem, optional_int, required_path, signal_attribute
from sa3p_engine._commands import OpenCommand
from sa3p_engine._effects import Approve, Confirm, Cwd, Routine, go_ahead, safely
from sa3p_engine._outputs import DenialCause, DeniedOutput
from sa3p_engine._policy import (
    FILE_KINDS,
    CommandKind,
    Policy,
    PolicyAction,
    PolicyDecision,
    normalise_path,
    prepare_text,
)

__all__ = ["PolicyGate", "Verdict"]

_KINDS_OF = {
    "write_file": (CommandKind.WRITE,),
    "read_file": (CommandKind.READ,),
    "list_files": (CommandKind.LIST,),
    "apply_edit": (CommandKind.WRITE, CommandKind.READ),  # it shows the file: diff, closest region
}

_ADVICE = {
    DenialCause.RULE: "Do not retry it or reach the same result another way (another path or "
    "spelling, the terminal); go on without it, or tell the user what you need and why",
    DenialCause.REFUSED: "Do not retry it as it is; go on without it, or ask the user what "
    "they want instead",
    DenialCause.UNANSWERED: "It was not run; do what you can without it, and tell the user it "
    "needs their approval",
}
_ADVICE[DenialCause.DEFAULT] = _ADVICE[DenialCause.RULE]


@dataclass(frozen=True, slots=True)
class _Target:
    """One thing the policy checks: a command kind and a path or a command text."""

    kind: CommandKind
    value: str | None
    """The path as written (file kinds), or the command text (None: a ``terminal pid=`` poll)."""
    label: str = ""
    """What to call a target without a value (``pid 4121``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The policy's answer for one command.

    Attributes:
        action: the strictest of its checks.
        deciding: the check that decided (the first of the strictest).
        checks: every (kind, decision) checked.
        subject: what an output names: the deciding path (normalised) or the command text.
    """

    action: PolicyAction
    deciding: PolicyDecision
    checks: tuple[tuple[CommandKind, PolicyDecision], ...]
    subject: str


class PolicyGate:
    """Judges commands against a policy and asks for approvals (see the module docstring).

    Args:
        policy: the rules; None lets every command run unasked.
        can_ask: whether the driver has an approver; without one, *ask* means *deny*.
    """

    def __init__(self, policy: Policy | None, *, can_ask: bool) -> None:
        self.policy = policy
        self._can_ask = can_ask
        self._root: str | None = None
        self._root_known = False
        self._always: set[tuple[CommandKind, str]] = set()

    def judge(self, command: OpenCommand) -> Routine[Verdict | None]:
        """The verdict on ``command``; None without a policy or for a malformed command."""
        if self.policy is None:
            return None
        targets = _targets(command)
        if not targets:
            return None
        if not self._root_known and any(_absolute(t) for t in targets):
            self._root_known = True
            unknown: str | None = None  # a failing backend: absolute paths stay unmatched
            self._root = yield from safely(Cwd(), unknown)
        checks = tuple((t.kind, self._decide(self.policy, t)) for t in targets)
        kind, deciding = checks[0]
        for check in checks[1:]:  # the first of the strictest decides
            if check[1].action > deciding.action:
                kind, deciding = check
        subject = _shown(deciding, kind, targets)
        return Verdict(action=deciding.action, deciding=deciding, checks=checks, subject=subject)

    def refusal(self, command: str, verdict: Verdict | None) -> DeniedOutput | None:
        """The denial of a command that may not run without asking and cannot be asked about."""
        if verdict is None or verdict.action is PolicyAction.ALLOW:
            return None
        if verdict.action is PolicyAction.DENY:
            cause = DenialCause.RULE if verdict.deciding.rule else DenialCause.DEFAULT
            return _denied(command, verdict, cause)
        if not self._can_ask:
            return _denied(command, verdict, DenialCause.UNANSWERED)
        return None

    def confirm(self, command: str, verdict: Verdict | None) -> Confirm:
        """The ``Confirm`` hook for a command with ``verdict``: asks if the verdict is *ask*."""
        if verdict is None or verdict.action is not PolicyAction.ASK:
            return go_ahead
        return functools.partial(self._ask, command, verdict)

    def _ask(self, command: str, verdict: Verdict, change: str) -> Routine[DeniedOutput | None]:
        request = _request(command, verdict, change)
        try:
            answer = answer_of((yield Approve(request)))
        except Exception as error:
            failure = f"asking failed ({type(error).__name__}: {error})"
            return _denied(command, verdict, DenialCause.UNANSWERED, failure)
        if answer is Approval.NO:
            return _denied(command, verdict, DenialCause.REFUSED)
        if answer is Approval.ALWAYS:
            self._always.update(_asked(verdict))
        return None

    def _decide(self, policy: Policy, target: _Target) -> PolicyDecision:
        if target.kind in FILE_KINDS:
            path = normalise_path(target.value or ".", self._root)
            decision = policy.evaluate_path(target.kind, path)
        else:
            text = None if target.value is None else prepare_text(target.value)
            decision = policy.evaluate_text(target.kind, text)
        if decision.action is PolicyAction.ASK and (target.kind, decision.subject) in self._always:
            return PolicyDecision(PolicyAction.ALLOW, subject=decision.subject)
        return decision


def _targets(command: OpenCommand) -> tuple[_Target, ...]:
    """What the policy checks for ``command``; () when it is malformed (it fails on its own)."""
    attributes = command.attributes
    match command.name:
        case "apply_patch":
            from sa3p_engine._apply_patch import patch_paths  # noqa: PLC0415 - start-up time

            patch = command.patch()
            if not isinstance(patch, tuple):
                return ()
            return tuple(
                _Target(kind, path)
                for operation in patch
                for path in patch_paths(operation)
                for kind in _patch_kinds(operation, path)
            )
        case "terminal":
            try:
                text = bytes(command.body).decode("utf-8").strip()
            except UnicodeDecodeError:
                return ()
            polled = attributes.get("pid", "").strip()
            if bool(text) == bool(polled):
                return ()  # neither a command nor a pid, or both
            return (_Target(CommandKind.TERMINAL, text or None, f"pid {polled}"),)
        case "terminal_signal":
            pid = optional_int("terminal_signal", attributes, "pid")
            signal = signal_attribute(attributes)
            if not isinstance(pid, int) or isinstance(signal, AttributeProblem):
                return ()
            return (_Target(CommandKind.SIGNAL, f"{signal[0]} {pid}"),)
        case "list_files":
            path: str | AttributeProblem = (attributes.get("path") or ".").strip() or "."
        case _:
            path = required_path(command.name, attributes)
    if isinstance(path, AttributeProblem):
        return ()
    return tuple(_Target(kind, path) for kind in _KINDS_OF.get(command.name, ()))


def _patch_kinds(operation: object, path: str) -> tuple[CommandKind, ...]:
    """An update shows its file (a diff, the closest region): its source is read too."""
    from sa3p_engine._patch_format import UpdateFile  # noqa: PLC0415 - start-up time

    if isinstance(operation, UpdateFile) and path == operation.path:
        return (CommandKind.WRITE, CommandKind.READ)
    return (CommandKind.WRITE,)


def _absolute(target: _Target) -> bool:
    return target.kind in FILE_KINDS and (target.value or "").strip().startswith("/")


def _shown(decision: PolicyDecision, kind: CommandKind, targets: tuple[_Target, ...]) -> str:
    if decision.subject:
        return decision.subject
    target = next(t for t in targets if t.kind is kind)
    return (target.value or target.label).strip()


def _asked(verdict: Verdict) -> set[tuple[CommandKind, str]]:
    """The (kind, subject) pairs an *always* answer allows from now on (a poll, which has no
    text, is allowed once)."""
    return {
        (kind, decision.subject)
        for kind, decision in verdict.checks
        if decision.action is PolicyAction.ASK and decision.subject
    }


def _rule_text(verdict: Verdict) -> tuple[int | None, str]:
    decision = verdict.deciding
    if decision.rule is None:
        return None, f'default = "{decision.action.word}"'
    return decision.rule_index, decision.rule.describe()


def _denied(command: str, verdict: Verdict, cause: DenialCause, failure: str = "") -> DeniedOutput:
    index, rule = _rule_text(verdict)
    named = f"rule {index} of the policy ({rule})" if index else f"the policy's {rule}"
    match cause:
        case DenialCause.RULE | DenialCause.DEFAULT:
            what = "forbids this" if index else "forbids what no rule allows"
        case DenialCause.REFUSED:
            what = "asks for approval, and the user refused"
        case DenialCause.UNANSWERED:
            nobody = failure or "no one could be asked (no approver: a pipeline or a CI run)"
            what = f"asks for approval, and {nobody}"
    own = verdict.deciding.rule.reason if verdict.deciding.rule else None
    advice = _ADVICE[cause]
    if own and cause in (DenialCause.RULE, DenialCause.DEFAULT):
        advice = f"{own.strip().rstrip('.')}. {advice}"
    return DeniedOutput(
        command=command,
        ok=False,
        error=f"{named} {what}. {advice}.",
        subject=verdict.subject,
        cause=cause,
        rule_index=index,
        rule=rule,
        reason=advice,
    )


def _request(command: str, verdict: Verdict, change: str) -> ApprovalRequest:
    kinds = tuple(dict.fromkeys(kind for kind, _ in verdict.checks))
    paths = tuple(
        dict.fromkeys(
            decision.subject or ""
            for kind, decision in verdict.checks
            if kind in FILE_KINDS and decision.subject is not None
        )
    )
    text = "" if paths else verdict.deciding.subject or verdict.subject
    index, rule = _rule_text(verdict)
    asked = sorted(_asked(verdict))
    if not asked:
        always = "this command only (it has no text or path to remember)"
    elif text:
        always = f"this exact command text, for the rest of this run: {text}"
    else:
        always = "for the rest of this run: " + ", ".join(f"{k.value} {p}" for k, p in asked)
    return ApprovalRequest(
        command=command,
        kinds=kinds,
        paths=paths,
        text=text,
        change=change,
        rule_index=index,
        rule=rule,
        always=always,
    )
