"""Policy files: what they may say, and every mistake refused with its file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sa3p_engine import CommandKind, Policy, PolicyAction, PolicyError, PolicyRule

GOOD = """\
# a comment
default = "ask"

[[rule]]
action = "deny"
command = "write"
path = ".git/**"
reason = "the host owns git metadata"

[[rule]]
action = "allow"
command = "terminal"
prefix = "pytest"

[[rule]]
action = "ask"
command = "terminal"
pattern = 'rm\\s+-rf'

[[rule]]
action = "allow"
command = "*"
"""


def test_a_good_file_reads_into_numbered_rules() -> None:
    policy = Policy.from_toml(GOOD, source="p.toml")
    assert policy.default is PolicyAction.ASK
    assert [rule.action for rule in policy.rules] == [
        PolicyAction.DENY,
        PolicyAction.ALLOW,
        PolicyAction.ASK,
        PolicyAction.ALLOW,
    ]
    assert policy.rules[0].reason == "the host owns git metadata"
    assert policy.rules[3].kinds == frozenset(CommandKind)
    assert policy.source == "p.toml"
    assert policy.describe().splitlines()[1] == (
        'rule 1: action = "deny", command = "write", path = ".git/**"'
    )


def test_from_file_reads_the_file_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(GOOD)
    assert Policy.from_file(str(path)).rules == Policy.from_toml(GOOD).rules
    path.write_text('default = "allow"\n\n[[rule]]\naction = "denny"\ncommand = "write"\n')
    with pytest.raises(PolicyError) as raised:
        Policy.from_file(str(path))
    assert (raised.value.source, raised.value.line, raised.value.key) == (str(path), 4, "action")
    assert str(raised.value).startswith(f"{path}, line 4, key 'action' of rule 1: 'denny'")


def test_an_unreadable_or_non_utf8_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read it") as raised:
        Policy.from_file(str(tmp_path / "missing.toml"))
    assert raised.value.source == str(tmp_path / "missing.toml")
    (tmp_path / "latin.toml").write_bytes(b'default = "allow" # caf\xe9\n')
    with pytest.raises(PolicyError, match="not UTF-8"):
        Policy.from_file(str(tmp_path / "latin.toml"))


RULE = '[[rule]]\naction = "deny"\ncommand = "write"\n'

BAD: list[tuple[str, str, int | None, str | None, str]] = [
    # (name, text, line, key, a piece of the message)
    ("toml syntax", 'default = "allow"\n[[rule]]\naction = \n', 3, None, "not valid TOML"),
    ("no default", RULE, None, None, "write default ="),
    ("bad default", 'default = "maybe"\n', 1, "default", "'maybe' is not one of allow"),
    ("unknown top key", 'default = "allow"\nrules = []\n', 2, "rules", "unknown key"),
    ("unknown table", 'default = "allow"\n[[rules]]\naction = "deny"\n', 2, "rules", "unknown"),
    ("rule not an array", 'default = "allow"\n[rule]\naction = "deny"\n', 2, "rule", "[[rule]]"),
    ("unknown rule key", f'default = "allow"\n{RULE}paths = "x"\n', 5, "paths", "unknown key"),
    ("bad action", 'default = "allow"\n[[rule]]\naction = "block"\ncommand = "write"\n', 3,
     "action", "'block' is not one of allow, ask, deny"),
    ("bad command", 'default = "allow"\n[[rule]]\naction = "deny"\ncommand = "bash"\n', 4,
     "command", "'bash' is not one of write, read, list, terminal, signal"),
    ("no action", 'default = "allow"\n[[rule]]\ncommand = "write"\n', 2, None, "has no action"),
    ("no command", 'default = "allow"\n[[rule]]\naction = "deny"\n', 2, None, "has no command"),
    ("not a string", f'default = "allow"\n{RULE}path = 3\n', 5, "path", "3 is not a string"),
    ("path and prefix", f'default = "allow"\n{RULE.replace("write", "*")}path = "a"\n'
     'prefix = "b"\n', 6, "prefix", "a path or a prefix, not both"),
    ("prefix and pattern", 'default = "allow"\n[[rule]]\naction = "deny"\n'
     'command = "terminal"\nprefix = "a"\npattern = "b"\n', 6, "pattern", "not both"),
    ("path on terminal", 'default = "allow"\n[[rule]]\naction = "deny"\n'
     'command = "terminal"\npath = "a/**"\n', 5, "path", "never matches a terminal command"),
    ("path on signal", 'default = "allow"\n[[rule]]\naction = "deny"\n'
     'command = "signal"\npath = "a"\n', 5, "path", "never matches a signal command"),
    ("prefix on write", f'default = "allow"\n{RULE}prefix = "git"\n', 5, "prefix",
     "never matches a write command"),
    ("pattern on read", 'default = "allow"\n[[rule]]\naction = "deny"\ncommand = "read"\n'
     'pattern = "x"\n', 5, "pattern", "never matches a read command"),
    ("bad regex", 'default = "allow"\n[[rule]]\naction = "deny"\ncommand = "terminal"\n'
     'pattern = "rm (-rf"\n', 5, "pattern", "is not a regular expression"),
    ("bad glob", f'default = "allow"\n{RULE}path = "a\\\\"\n', 5, "path", "gitignore-style"),
    ("empty glob", f'default = "allow"\n{RULE}path = ""\n', 5, "path", "matches no path"),
    ("comment glob", f'default = "allow"\n{RULE}path = "#x"\n', 5, "path", "matches no path"),
    ("negated glob", f'default = "allow"\n{RULE}path = "!a"\n', 5, "path", "a negation"),
    ("empty prefix", 'default = "allow"\n[[rule]]\naction = "deny"\ncommand = "terminal"\n'
     'prefix = "  "\n', 5, "prefix", "an empty prefix would match every command"),
    ("empty reason", f'default = "allow"\n{RULE}reason = ""\n', 5, "reason", "empty reason"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "line", "key", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_every_mistake_is_refused_with_its_line_and_key(
    text: str, line: int | None, key: str | None, message: str
) -> None:
    with pytest.raises(PolicyError) as raised:
        Policy.from_toml(text, source="p.toml")
    error = raised.value
    assert (error.source, error.line, error.key) == ("p.toml", line, key)
    assert message in error.problem
    assert str(error).startswith("p.toml")
    if line is not None:
        assert f"line {line}" in str(error)


def test_the_second_rule_is_located_and_numbered() -> None:
    text = f'default = "allow"\n{RULE}\n[[rule]]\naction = "ask"\ncommand = "write"\npath = "["\n'
    with pytest.raises(PolicyError) as raised:
        Policy.from_toml(text)
    assert (raised.value.rule, raised.value.line, raised.value.key) == (2, 9, "path")


def test_a_multiline_string_does_not_confuse_the_line_numbers() -> None:
    text = (
        'default = "allow"\n[[rule]]\naction = "deny"\ncommand = "terminal"\n'
        'reason = """\nnot a key = here\n"""\nprefix = ""\n'
    )
    with pytest.raises(PolicyError) as raised:
        Policy.from_toml(text)
    assert (raised.value.line, raised.value.key) == (8, "prefix")


def test_rules_made_in_code_are_checked_the_same_way() -> None:
    with pytest.raises(PolicyError) as raised:
        PolicyRule(action=PolicyAction.DENY, command="terminal", path="x")
    assert (raised.value.key, raised.value.line) == ("path", None)
    with pytest.raises(PolicyError, match="not allow, ask or deny"):
        PolicyRule(action="deny", command="write")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="not allow, ask or deny"):
        Policy(default="deny")  # type: ignore[arg-type]
