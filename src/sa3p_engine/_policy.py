"""The workspace policy: allow / ask / deny rules on commands, their paths and their text.

A policy is a default action and numbered rules. A rule names an action, the commands it
concerns (``write``, ``read``, ``list``, ``terminal``, ``signal`` or ``*``) and at most one
matcher: a gitignore-style ``path`` glob (file commands), or a ``prefix`` or ``pattern`` on the
command text (``terminal``, ``signal``). A rule without a matcher concerns every command it names.
Every matching rule counts and the strictest wins — deny beats ask beats allow (what Claude Code
and Codex do) — and when no rule matches, the default applies.

Paths are matched after normalisation (``..`` and ``.`` resolved, an absolute path inside the
workspace root made relative). A path that normalises outside the workspace matches no path rule
at all: the backend refuses it, and no allow rule can let it through. Rules are compiled when the
policy is made, so evaluating one is a few regular-expression matches.

Matching shell text is a guard against mistakes, not a security boundary (a shell has endless
spellings; the sandbox is the boundary), but it leans the safe way: a deny or ask ``prefix`` is
tried at the start of every simple command of the text (after ``;``, ``&&``, ``|``, a newline,
``$(``…, with quotes, variable assignments and wrappers like ``sudo``/``env`` set aside), while an
allow ``prefix`` or ``pattern`` matches only a text that is one simple command (no ``;``, ``&``,
``|``, newline, backquote, ``$(``, ``<``, ``>`` except ``2>&1``-style and ``>/dev/null``
redirections), so allowing ``git status`` never allows ``git status; rm -rf ~``.
"""

from __future__ import annotations

import enum
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "FILE_KINDS",
    "CommandKind",
    "Policy",
    "PolicyAction",
    "PolicyDecision",
    "PolicyError",
    "PolicyRule",
    "normalise_path",
    "prepare_text",
]


class PolicyAction(enum.IntEnum):
    """What a rule (or the default) does; a larger value is stricter."""

    ALLOW = 0
    ASK = 1
    DENY = 2

    @property
    def word(self) -> str:
        """The word a policy file uses: ``allow``, ``ask``, ``deny``."""
        return self.name.lower()


class CommandKind(enum.StrEnum):
    """The command classes rules name (the ``command`` key of a rule).

    ``write`` covers every editing command (``write_file``, ``apply_edit``, ``apply_patch``);
    ``apply_edit`` and an ``apply_patch`` update also show the file (a diff, the closest region),
    so their paths are checked as ``read`` too.
    """

    WRITE = "write"
    READ = "read"
    LIST = "list"
    TERMINAL = "terminal"
    SIGNAL = "signal"


FILE_KINDS = frozenset({CommandKind.WRITE, CommandKind.READ, CommandKind.LIST})
"""The kinds whose subject is a path (the others' is a command text)."""

ANY_COMMAND = "*"


class PolicyError(ValueError):
    """A policy that cannot be used (nothing of it applies): a caller's or a file's mistake.

    Attributes:
        problem: what is wrong and how to fix it.
        source: the file (or ``<string>``), when known.
        line: the 1-based line of the file, when known.
        key: the key at fault (``default``, ``action``…), when there is one.
        rule: the 1-based number of the ``[[rule]]`` at fault, when there is one.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        line: int | None = None,
        key: str | None = None,
        rule: int | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.line = line
        self.key = key
        self.rule = rule
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [part for part in (self.source, self.line and f"line {self.line}") if part]
        if self.key is not None:
            where.append(f"key {self.key!r}" + (f" of rule {self.rule}" if self.rule else ""))
        elif self.rule is not None:
            where.append(f"rule {self.rule}")
        return f"{', '.join(where)}: {self.problem}" if where else self.problem

    def located(self, *, source: str, line: int | None, rule: int | None = None) -> PolicyError:
        """The same error, placed in a file."""
        return PolicyError(
            self.problem,
            source=source,
            line=line if line is not None else self.line,
            key=self.key,
            rule=rule if rule is not None else self.rule,
        )


# --- shell text -------------------------------------------------------------------------------

_OPERATORS = re.compile(r"\|\||&&|\$\(|<\(|>\(|[;&|\n(){}`]")
_HARMLESS_REDIRECTIONS = re.compile(r"\d*>&\d+(?=\s|$)|(?:\d+|&)?>>?\s*/dev/null(?=\s|$)")
_NOT_SIMPLE = re.compile(r"[;&|\n`<>(){}]|\$\(")
_QUOTES = re.compile(r"[\"'\\]")
_WHITESPACE = re.compile(r"\s+")
_LEADING_NOISE = re.compile(
    r"^(?:(?:[A-Za-z_][A-Za-z0-9_]*=\S*|sudo|env|command|exec|nohup|time|builtin)\s+)*"
)


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


class _Text(NamedTuple):
    """A command text prepared once for every rule: as written, per simple command, simple?"""

    whole: str
    collapsed: str
    segments: tuple[str, ...]
    simple: bool

    @classmethod
    def of(cls, text: str) -> _Text:
        whole = text.strip()
        segments: list[str] = []
        for piece in _OPERATORS.split(whole):
            segment = _LEADING_NOISE.sub("", _collapse(_QUOTES.sub("", piece)))
            if not segment:
                continue
            segments.append(segment)
            first, _, rest = segment.partition(" ")
            if "/" in first:  # /usr/bin/git push: also as git push
                segments.append(f"{posixpath.basename(first)} {rest}".rstrip())
        simple = not _NOT_SIMPLE.search(_HARMLESS_REDIRECTIONS.sub("", whole))
        return cls(whole, _collapse(whole), tuple(segments), simple)


# --- paths ------------------------------------------------------------------------------------


def normalise_path(path: str, root: str | None) -> str | None:
    """``path`` relative to the workspace, ``/``-separated, ``..`` and ``.`` resolved (``.`` for
    the root); None when it leaves the workspace (or is absolute and the root is unknown)."""
    text = path.strip()
    if text.startswith("/"):
        if root is None:
            return None
        base = posixpath.normpath("/" + root.strip().lstrip("/"))
        absolute = posixpath.normpath("/" + text.lstrip("/"))
        if absolute == base:
            return "."
        prefix = base if base.endswith("/") else base + "/"
        if not absolute.startswith(prefix):
            return None
        text = absolute[len(prefix) :]
    relative = posixpath.normpath(text or ".")
    if relative == ".." or relative.startswith("../"):
        return None
    return relative


def _compile_glob(glob: str) -> re.Pattern[str]:
    import pathspec  # noqa: PLC0415 - only a policy with path rules needs it (start-up time)

    try:
        patterns = pathspec.GitIgnoreSpec.from_lines([glob]).patterns
    except ValueError as error:  # pathspec's pattern errors are ValueErrors
        raise PolicyError(
            f"{glob!r} is not a gitignore-style pattern ({error})", key="path"
        ) from None
    if len(patterns) != 1 or patterns[0].regex is None:
        raise PolicyError(
            f"{glob!r} matches no path (an empty pattern, a comment or an unclosed bracket)",
            key="path",
        )
    if not patterns[0].include:
        raise PolicyError(
            f"{glob!r} is a negation; a rule's path says what it concerns: write an allow rule "
            f"for {glob[1:]!r} instead",
            key="path",
        )
    regex: re.Pattern[str] = patterns[0].regex
    return regex


# --- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyRule:
    """One rule. Its constructor checks it and compiles its matcher.

    Attributes:
        action: what happens to a command the rule matches.
        command: ``write``, ``read``, ``list``, ``terminal``, ``signal`` or ``*``.
        path: a gitignore-style glob on the normalised path (file commands only).
        prefix: the command text starts with this (terminal and signal only).
        pattern: a regular expression searched in the command text (terminal and signal only).
        reason: a sentence for the model when the rule denies (what to do instead).

    Raises:
        PolicyError: a rule that would be meaningless or could never match (naming the key).
    """

    action: PolicyAction
    command: str
    path: str | None = None
    prefix: str | None = None
    pattern: str | None = None
    reason: str | None = None
    kinds: frozenset[CommandKind] = field(init=False, repr=False, compare=False)
    _path_regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _text_test: Callable[[_Text], bool] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.action, PolicyAction):
            raise PolicyError(f"{self.action!r} is not allow, ask or deny", key="action")
        kinds = _kinds_of(self.command)
        if self.path is not None and (self.prefix is not None or self.pattern is not None):
            text_key = "prefix" if self.prefix is not None else "pattern"
            raise PolicyError(
                f"a rule has a path or a {text_key}, not both: paths concern file commands, "
                f"{text_key} the text of terminal and signal commands; make two rules",
                key=text_key,
            )
        if self.prefix is not None and self.pattern is not None:
            raise PolicyError("give prefix or pattern, not both (make two rules)", key="pattern")
        if self.path is not None and not kinds & FILE_KINDS:
            raise PolicyError(
                f"a path never matches a {self.command} command (it has a command text, not a "
                f"path): use prefix or pattern",
                key="path",
            )
        text_key = "prefix" if self.prefix is not None else "pattern"
        if (self.prefix is not None or self.pattern is not None) and kinds <= FILE_KINDS:
            raise PolicyError(
                f"a {text_key} never matches a {self.command} command (it has a path, not a "
                f"command text): use path",
                key=text_key,
            )
        if self.reason is not None and not self.reason.strip():
            raise PolicyError(
                "an empty reason: say what to do instead, or leave it out", key="reason"
            )
        object.__setattr__(self, "kinds", kinds)
        object.__setattr__(
            self, "_path_regex", None if self.path is None else _compile_glob(self.path)
        )
        object.__setattr__(self, "_text_test", _text_test(self.action, self.prefix, self.pattern))

    def describe(self) -> str:
        """The rule as one line of TOML key/values (what a denial quotes)."""
        keys = [("action", self.action.word), ("command", self.command)]
        keys += [
            (k, v)
            for k, v in (("path", self.path), ("prefix", self.prefix), ("pattern", self.pattern))
            if v is not None
        ]
        import json  # noqa: PLC0415 - only a denial's text needs it (start-up time)

        return ", ".join(f"{key} = {json.dumps(value)}" for key, value in keys)

    def matches_path(self, path: str | None, *, directory: bool = False) -> bool:
        """Whether this rule concerns ``path`` (normalised; None: outside the workspace)."""
        if self._path_regex is None:
            return self._text_test is None
        if path is None:
            return False
        if self._path_regex.match(path) is not None:
            return True
        return directory and path != "." and self._path_regex.match(path + "/") is not None

    def matches_text(self, text: _Text | None) -> bool:
        """Whether this rule concerns a command ``text`` (None: a command without text)."""
        test = self._text_test
        if test is None:
            return self._path_regex is None
        return text is not None and test(text)


def _kinds_of(command: str) -> frozenset[CommandKind]:
    if command == ANY_COMMAND:
        return frozenset(CommandKind)
    try:
        return frozenset({CommandKind(command)})
    except ValueError:
        names = ", ".join(kind.value for kind in CommandKind)
        raise PolicyError(f'{command!r} is not one of {names} or "*"', key="command") from None


def _text_test(
    action: PolicyAction, prefix: str | None, pattern: str | None
) -> Callable[[_Text], bool] | None:
    """The rule's test of a prepared text, compiled once: an allow rule needs one simple
    command; a deny or ask ``prefix`` is tried on every simple command of the text."""
    if prefix is not None:
        start = _compiled_prefix(prefix)
        if action is PolicyAction.ALLOW:
            return lambda text: text.simple and text.collapsed.startswith(start)
        return lambda text: any(segment.startswith(start) for segment in text.segments)
    if pattern is not None:
        search = _compiled_pattern(pattern).search
        if action is PolicyAction.ALLOW:
            return lambda text: text.simple and search(text.whole) is not None
        return lambda text: search(text.whole) is not None
    return None


def _compiled_prefix(prefix: str) -> str:
    collapsed = _collapse(prefix)
    if not collapsed:
        raise PolicyError(
            "an empty prefix would match every command: leave prefix out for that", key="prefix"
        )
    return collapsed


def _compiled_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise PolicyError(
            f"{pattern!r} is not a regular expression: {error}", key="pattern"
        ) from None


# --- the policy -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What the policy says about one path or text of a command.

    Attributes:
        action: allow, ask or deny.
        rule_index: the 1-based number of the deciding rule; None when the default decided.
        rule: the deciding rule; None when the default decided.
        subject: the normalised path or the command text evaluated ("" when none; None for a
            path outside the workspace).
    """

    action: PolicyAction
    rule_index: int | None = None
    rule: PolicyRule | None = None
    subject: str | None = ""


@dataclass(frozen=True, slots=True)
class Policy:
    """A default action and rules (see the module docstring); immutable, compiled when made.

    Args:
        default: what happens to a command no rule matches.
        rules: the rules, numbered from 1 in this order.
        source: where the policy came from (a file name), for messages.
    """

    default: PolicyAction = PolicyAction.ALLOW
    rules: tuple[PolicyRule, ...] = ()
    source: str = "<policy>"
    _by_kind: dict[CommandKind, tuple[tuple[int, PolicyRule], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.default, PolicyAction):
            raise PolicyError(f"{self.default!r} is not allow, ask or deny", key="default")
        object.__setattr__(self, "rules", tuple(self.rules))
        numbered = list(enumerate(self.rules, start=1))
        by_kind = {
            kind: tuple(
                sorted(
                    ((index, rule) for index, rule in numbered if kind in rule.kinds),
                    key=lambda item: (-item[1].action, item[0]),  # strictest first, then in order
                )
            )
            for kind in CommandKind
        }
        object.__setattr__(self, "_by_kind", by_kind)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<string>") -> Policy:
        """Read a policy file's text (format: docs/CONTROL.md).

        Raises:
            PolicyError: anything wrong in it, with the line and the key.
        """
        from sa3p_engine._policy_file import read_policy  # noqa: PLC0415 - a cycle otherwise

        default, rules = read_policy(text, source)
        return cls(default, rules, source)

    @classmethod
    def from_file(cls, path: str) -> Policy:
        """Read a policy file (UTF-8 TOML).

        Raises:
            PolicyError: it cannot be read, or anything wrong in it (with the line and key).
        """
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise PolicyError(f"cannot read it: {error.strerror}", source=path) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise PolicyError(f"not UTF-8 (byte {error.start})", source=path) from None
        return cls.from_toml(text, source=path)

    def evaluate(
        self,
        command: CommandKind,
        *,
        path: str | None = None,
        text: str | None = None,
        root: str | None = None,
    ) -> PolicyDecision:
        """What the policy says about one command.

        Args:
            command: the command's kind.
            path: for a file command: the path as the model wrote it.
            text: for a terminal or signal command: its text (None for a ``terminal pid=…``
                poll, which only rules without a matcher concern).
            root: the workspace root, to make an absolute ``path`` relative.
        """
        if command in FILE_KINDS:
            return self.evaluate_path(command, normalise_path(path or ".", root))
        return self.evaluate_text(command, None if text is None else _Text.of(text))

    def evaluate_path(self, command: CommandKind, path: str | None) -> PolicyDecision:
        """``evaluate`` for a path already normalised (None: outside the workspace)."""
        directory = command is CommandKind.LIST
        for index, rule in self._by_kind[command]:
            if rule.matches_path(path, directory=directory):
                return PolicyDecision(rule.action, index, rule, path)
        return PolicyDecision(self.default, subject=path)

    def evaluate_text(self, command: CommandKind, text: _Text | None) -> PolicyDecision:
        """``evaluate`` for a prepared command text."""
        subject = "" if text is None else text.whole
        for index, rule in self._by_kind[command]:
            if rule.matches_text(text):
                return PolicyDecision(rule.action, index, rule, subject)
        return PolicyDecision(self.default, subject=subject)

    def describe(self) -> str:
        """One line per rule, numbered, after the default (for people)."""
        lines = [f'default = "{self.default.word}"']
        lines += [f"rule {n}: {rule.describe()}" for n, rule in enumerate(self.rules, start=1)]
        return "\n".join(lines)


def prepare_text(text: str) -> _Text:
    """A command text prepared for ``Policy.evaluate_text``."""
    return _Text.of(text)
