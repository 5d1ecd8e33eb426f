"""Evaluating a policy: paths normalised, shell text split, deny before ask before allow."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sa3p_engine import CommandKind, Policy, PolicyAction, PolicyRule

ALLOW, ASK, DENY = PolicyAction.ALLOW, PolicyAction.ASK, PolicyAction.DENY
WRITE, READ, LIST = CommandKind.WRITE, CommandKind.READ, CommandKind.LIST
TERMINAL, SIGNAL = CommandKind.TERMINAL, CommandKind.SIGNAL
ROOT = "/workspace"


def rule(action: PolicyAction, command: str, **matcher: str) -> PolicyRule:
    return PolicyRule(action=action, command=command, **matcher)


def policy(*rules: PolicyRule, default: PolicyAction = ALLOW) -> Policy:
    return Policy(default, rules)


GIT = policy(rule(DENY, "write", path=".git/**"))


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        "./.git/config",
        "src/../.git/config",
        "a/b/../../.git/hooks/pre-commit",
        ".git/./config",
        "src//..//.git/config",
        "/workspace/.git/config",
        "/workspace/src/../.git/HEAD",
        "//workspace/.git/config",
        "  .git/config  ",
    ],
)
def test_laundered_and_absolute_paths_are_caught(path: str) -> None:
    decision = GIT.evaluate(WRITE, path=path, root=ROOT)
    assert decision.action is DENY and decision.rule_index == 1
    assert decision.subject is not None and decision.subject.startswith(".git/")


@pytest.mark.parametrize(
    "path", [".gitignore", "src/.git/config", "git/config", "/workspace2/.git/x"]
)
def test_paths_outside_the_glob_are_not_caught(path: str) -> None:
    assert GIT.evaluate(WRITE, path=path, root=ROOT).action is ALLOW


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "/workspace/../etc", "/x"])
def test_a_path_outside_the_workspace_matches_no_path_rule(path: str) -> None:
    everything = policy(
        rule(ALLOW, "write", path="**"), rule(ALLOW, "write", path="*"), default=DENY
    )
    decision = everything.evaluate(WRITE, path=path, root=ROOT)
    assert (decision.action, decision.rule, decision.subject) == (DENY, None, None)


def test_an_absolute_path_with_an_unknown_root_is_outside() -> None:
    assert GIT.evaluate(WRITE, path="/workspace/.git/x", root=None).subject is None


def test_deny_beats_ask_beats_allow_whatever_their_order() -> None:
    rules = [
        rule(ALLOW, "write", path="src/**"),
        rule(ASK, "write", path="src/*.py"),
        rule(DENY, "write", path="src/secret.py"),
        rule(DENY, "*"),
    ]
    assert policy(*rules[:3]).evaluate(WRITE, path="src/secret.py").rule_index == 3
    assert policy(*rules[:3]).evaluate(WRITE, path="src/app.py").action is ASK
    assert policy(*rules[:3]).evaluate(WRITE, path="src/a.txt").action is ALLOW
    reversed_rules = policy(*reversed(rules[:3]))
    decision = reversed_rules.evaluate(WRITE, path="src/secret.py")
    assert (decision.action, decision.rule_index) == (DENY, 1)
    both_deny = policy(*rules)  # the first deny that matches is the one named
    assert both_deny.evaluate(WRITE, path="src/secret.py").rule_index == 3
    assert both_deny.evaluate(READ, path="x").rule_index == 4


def test_rules_concern_only_their_command_kind() -> None:
    rules = policy(rule(DENY, "read", path="secrets/**"), rule(DENY, "list", path="secrets/"))
    assert rules.evaluate(READ, path="secrets/key").action is DENY
    assert rules.evaluate(WRITE, path="secrets/key").action is ALLOW
    assert rules.evaluate(LIST, path="secrets").action is DENY  # listed as a directory
    assert rules.evaluate(LIST, path=".").action is ALLOW
    assert rules.evaluate(TERMINAL, text="cat secrets/key").action is ALLOW


def test_a_rule_without_a_matcher_concerns_every_command_it_names() -> None:
    star = policy(rule(ASK, "*"))
    for kind, subject in (
        (WRITE, {"path": "a"}),
        (TERMINAL, {"text": "ls"}),
        (SIGNAL, {"text": "SIGINT 1"}),
    ):
        assert star.evaluate(kind, **subject).action is ASK
    assert star.evaluate(TERMINAL, text=None).action is ASK  # a poll too
    by_path = policy(rule(DENY, "*", path="x"))
    assert by_path.evaluate(TERMINAL, text="x").action is ALLOW  # a path rule has no text


DENY_PUSH = policy(rule(DENY, "terminal", prefix="git push"))


@pytest.mark.parametrize(
    "text",
    [
        "git push",
        "  git push origin main",
        "git  push",
        "git\tpush --force",
        "ls && git push",
        "make; git push",
        "true || git push",
        "echo $(git push)",
        "echo `git push`",
        "cat x | git push",
        "(cd sub && git push)",
        "GIT_TRACE=1 git push",
        "env A=1 git push",
        "sudo git push",
        "/usr/bin/git push",
        '"git" push',
        "git 'push'",
        "ls\ngit push",
    ],
)
def test_a_deny_prefix_is_tried_on_every_simple_command(text: str) -> None:
    assert DENY_PUSH.evaluate(TERMINAL, text=text).action is DENY


@pytest.mark.parametrize("text", ["echo git push", "git pull", "gitpush", "git status"])
def test_a_deny_prefix_leaves_other_commands(text: str) -> None:
    assert DENY_PUSH.evaluate(TERMINAL, text=text).action is ALLOW


ALLOW_STATUS = policy(
    rule(ALLOW, "terminal", prefix="git status"),
    rule(ALLOW, "terminal", pattern=r"^pytest( -q)?$"),
    default=DENY,
)


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("git status", True),
        ("git status --short", True),
        ("git   status", True),
        ("git status 2>&1", True),
        ("git status >/dev/null 2>&1", True),
        ("pytest -q", True),
        ("git status; rm -rf ~", False),
        ("git status && curl x | sh", False),
        ("git status > .git/config", False),
        ("git status $(rm -rf ~)", False),
        ("git status `id`", False),
        ("git status\nrm x", False),
        ("GIT_DIR=/tmp git status", False),
        ("pytest -q; rm x", False),
        ("echo git status", False),
    ],
)
def test_an_allow_rule_matches_only_one_simple_command(text: str, allowed: bool) -> None:
    assert (ALLOW_STATUS.evaluate(TERMINAL, text=text).action is ALLOW) is allowed


def test_a_deny_pattern_is_searched_in_the_whole_text() -> None:
    rules = policy(rule(DENY, "terminal", pattern=r"rm\s+-[a-z]*r[a-z]*f"))
    assert rules.evaluate(TERMINAL, text="cd x && rm   -rf build").rule_index == 1
    assert rules.evaluate(TERMINAL, text="rm -r build").action is ALLOW


def test_signal_rules_match_the_canonical_signal_text() -> None:
    rules = policy(rule(DENY, "signal", prefix="SIGKILL"))
    assert rules.evaluate(SIGNAL, text="SIGKILL 4121").action is DENY
    assert rules.evaluate(SIGNAL, text="SIGINT 4121").action is ALLOW


def test_a_poll_has_no_text_so_only_rules_without_a_matcher_concern_it() -> None:
    assert DENY_PUSH.evaluate(TERMINAL, text=None).action is ALLOW
    assert policy(rule(DENY, "terminal")).evaluate(TERMINAL, text=None).action is DENY


# --- properties ------------------------------------------------------------------------------

_NAMES = st.sampled_from(["src", "a", "b", "lib", ".github", "x.py", "node_modules", ".gitx"])
_DETOURS = st.lists(st.one_of(st.just("."), _NAMES.map(lambda n: f"{n}/..")), max_size=4)


@given(
    before=_DETOURS,
    inside=st.lists(_NAMES, min_size=1, max_size=3),
    absolute=st.booleans(),
    detours=st.lists(_DETOURS, min_size=1, max_size=3),
)
def test_any_spelling_that_normalises_into_git_is_denied(
    before: list[str], inside: list[str], absolute: bool, detours: list[list[str]]
) -> None:
    segments = [*before, ".git"]
    for index, name in enumerate(inside):
        segments += [*detours[index % len(detours)], name]
    path = "/".join(segments)
    if absolute:
        path = f"{ROOT}/{path}"
    assert posixpath.normpath(posixpath.join(ROOT, path)).startswith(f"{ROOT}/.git/")
    assert GIT.evaluate(WRITE, path=path, root=ROOT).action is DENY


@given(
    segments=st.lists(st.one_of(st.just(".."), st.just("."), _NAMES), min_size=1, max_size=8),
    absolute=st.booleans(),
)
def test_no_path_that_leaves_the_workspace_is_allowed_by_a_rule(
    segments: list[str], absolute: bool
) -> None:
    path = ("/" if absolute else "") + "/".join(segments)
    real = posixpath.normpath(posixpath.join(ROOT, path))
    permissive = policy(rule(ALLOW, "*", path="**"), rule(ALLOW, "write", path="*"), default=ASK)
    decision = permissive.evaluate(WRITE, path=path, root=ROOT)
    if real != ROOT and not real.startswith(ROOT + "/"):
        assert (decision.action, decision.rule) == (ASK, None)
    else:
        assert decision.action is ALLOW
