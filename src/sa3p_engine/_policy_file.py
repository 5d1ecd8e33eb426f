"""Reading a policy file (TOML) into a default and rules, or a ``PolicyError`` at its line.

Anything unexpected is an error, never ignored: an unknown key, a value of the wrong type, a bad
action or command, an invalid glob or regular expression, a rule whose matcher could never apply.
A policy with a mistake in it would be silently weaker than the one its author meant, so none of
it applies. ``tomllib`` does not say where a key is; ``_KeyLines`` finds the line of each key of
each ``[[rule]]`` with a light scan of the text, for the messages.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from sa3p_engine._policy import PolicyAction, PolicyError, PolicyRule

__all__ = ["read_policy"]

_TOP_KEYS = ("default", "rule")
_RULE_KEYS = ("action", "command", "path", "prefix", "pattern", "reason")
_REQUIRED_RULE_KEYS = ("action", "command")
_ACTIONS = {action.word: action for action in PolicyAction}
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)$|\s*\(at end of document\)$")


def read_policy(text: str, source: str) -> tuple[PolicyAction, tuple[PolicyRule, ...]]:
    """The default and the rules of a policy file's ``text``.

    Raises:
        PolicyError: the first problem, with ``source``, its line and key.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _TOML_POSITION.search(message)
        line = int(found.group(1)) if found and found.group(1) else None
        problem = _TOML_POSITION.sub("", message)
        raise PolicyError(f"not valid TOML: {problem}", source=source, line=line) from None
    lines = _KeyLines.scan(text)

    def fail(problem: str, key: str | None, rule: int | None = None) -> PolicyError:
        return PolicyError(problem, source=source, line=lines.find(rule, key), key=key, rule=rule)

    for key in document:
        if key not in _TOP_KEYS:
            raise fail(f"unknown key; a policy has {_TOP_KEYS[0]} and [[rule]] tables", key)
    if "default" not in document:
        raise fail('missing: write default = "allow", "ask" or "deny" (when no rule matches)', None)
    default = _action(document["default"], fail, "default", None)
    raw_rules = document.get("rule", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise fail("rules are [[rule]] tables (an array of tables)", "rule")
    rules = tuple(_rule(raw, number, fail) for number, raw in enumerate(raw_rules, start=1))
    return default, rules


def _action(value: Any, fail: Any, key: str, rule: int | None) -> PolicyAction:
    if isinstance(value, str) and value in _ACTIONS:
        return _ACTIONS[value]
    raise fail(f"{value!r} is not one of allow, ask, deny", key, rule)


def _rule(raw: dict[str, Any], number: int, fail: Any) -> PolicyRule:
    for key, value in raw.items():
        if key not in _RULE_KEYS:
            raise fail(f"unknown key; a rule has {', '.join(_RULE_KEYS)}", key, number)
        if not isinstance(value, str):
            raise fail(f"{value!r} is not a string", key, number)
    for key in _REQUIRED_RULE_KEYS:
        if key not in raw:
            raise fail(f"the rule has no {key}", None, number)
    try:
        return PolicyRule(
            action=_action(raw["action"], fail, "action", number),
            command=raw["command"],
            path=raw.get("path"),
            prefix=raw.get("prefix"),
            pattern=raw.get("pattern"),
            reason=raw.get("reason"),
        )
    except PolicyError as error:
        if error.source is not None:
            raise
        raise fail(error.problem, error.key, number) from None


_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([A-Za-z0-9_-]+)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)")
_KEY = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*[=.]""")
_MULTILINE = re.compile(r'"""|\'\'\'')


@dataclass(slots=True)
class _KeyLines:
    """The line of every top-level key and of every key of each ``[[rule]]`` (1-based)."""

    top: dict[str, int] = field(default_factory=dict)
    rules: dict[int, dict[str, int]] = field(default_factory=dict)
    headers: dict[int, int] = field(default_factory=dict)

    @classmethod
    def scan(cls, text: str) -> _KeyLines:
        found = cls()
        table: int | None = None  # None: top level; 0: a table that is not a rule
        inside_string = False
        for number, line in enumerate(text.splitlines(), start=1):
            if inside_string:
                inside_string = len(_MULTILINE.findall(line)) % 2 == 0
                continue
            inside_string = len(_MULTILINE.findall(line)) % 2 == 1
            table = found._take(line, number, table)
        return found

    def _take(self, line: str, number: int, table: int | None) -> int | None:
        header = _ARRAY_HEADER.match(line) or _TABLE_HEADER.match(line)
        if header is not None:
            name = header.group(1)
            self.top.setdefault(name, number)
            if _ARRAY_HEADER.match(line) and name == "rule":
                rule = len(self.headers) + 1
                self.headers[rule] = number
                return rule
            return 0
        key = _KEY.match(line)
        if key is not None:
            name = next(group for group in key.groups() if group is not None)
            if table is None:
                self.top.setdefault(name, number)
            elif table:
                self.rules.setdefault(table, {}).setdefault(name, number)
        return table

    def find(self, rule: int | None, key: str | None) -> int | None:
        """The line of ``key`` (of rule ``rule``); else the rule's header; else None."""
        if rule is None:
            return self.top.get(key) if key is not None else None
        line = self.rules.get(rule, {}).get(key) if key is not None else None
        return line if line is not None else self.headers.get(rule, self.top.get("rule"))
