"""The engine under a policy: each rule kind on each command kind, judged before any effect."""

from __future__ import annotations

import pytest

from sa3p_engine import (
    CommandOutput,
    DenialCause,
    DeniedOutput,
    Engine,
    Policy,
    generate_system_prompt,
)
from sa3p_engine.testing import MemoryFileSystem, ScriptedCommand, ScriptedTerminal
from sa3p_parser import EndTag, Instruction, RawChunk, StartTag, WriteChunk

from .engine_helpers import command, edit, make_engine, recorded_engine, run_one

FILES = {
    "src/app.py": b"def main():\n    return 1\n",
    ".git/config": b"[core]\n",
    "secrets/key": b"hunter2\n",
    "docs/readme.md": b"hello\n",
}
SCRIPTS = {
    "serve": ScriptedCommand(exit_code=None, later_output=b"req\n"),
    "git status": ScriptedCommand(output=b"clean\n"),
}

POLICY = Policy.from_toml(
    """
default = "allow"

[[rule]]
action = "deny"
command = "write"
path = ".git/**"
reason = "git metadata belongs to the host"

[[rule]]
action = "deny"
command = "read"
path = "secrets/**"

[[rule]]
action = "deny"
command = "list"
path = "secrets/"

[[rule]]
action = "deny"
command = "terminal"
prefix = "git push"

[[rule]]
action = "deny"
command = "terminal"
pattern = 'rm\\s+-rf'

[[rule]]
action = "deny"
command = "signal"
prefix = "SIGKILL"
"""
)


def patch(*lines: str) -> list[Instruction]:
    body = "\n".join(["*** Begin Patch", *lines, "*** End Patch", ""])
    return command("apply_patch", body)


DENIED: dict[str, tuple[list[Instruction], int]] = {
    # name: (the command, the rule that denies it)
    "write_file": (command("write_file", "x", path=".git/config"), 1),
    "write_file laundered": (command("write_file", "x", path="src/../.git/hooks/pre-push"), 1),
    "apply_edit": (edit(".git/config", ("[core]", "[x]")), 1),
    "apply_edit of a read-denied file": (edit("secrets/key", ("hunter2", "x")), 2),
    "apply_patch add": (patch("*** Add File: .git/new", "+x"), 1),
    "apply_patch delete": (patch("*** Delete File: .git/config"), 1),
    "apply_patch update": (patch("*** Update File: .git/config", "-[core]", "+[x]"), 1),
    "apply_patch update of a read-denied file": (
        patch("*** Update File: secrets/key", "-hunter2", "+x"),
        2,
    ),
    "apply_patch move source": (
        patch("*** Update File: .git/config", "*** Move to: config.bak"),
        1,
    ),
    "apply_patch move destination": (
        patch("*** Update File: src/app.py", "*** Move to: .git/app.py"),
        1,
    ),
    "apply_patch second file": (
        patch("*** Add File: ok.txt", "+fine", "*** Add File: ./.git/x", "+x"),
        1,
    ),
    "read_file": (command("read_file", path="secrets/key"), 2),
    "read_file absolute": (command("read_file", path="/workspace/secrets/../secrets/key"), 2),
    "list_files": (command("list_files", path="secrets"), 3),
    "terminal prefix": (command("terminal", "ls && git  push origin"), 4),
    "terminal pattern": (command("terminal", "cd build; rm -rf ."), 5),
    "terminal_signal": (command("terminal_signal", pid="1000", signal="9"), 6),
}


@pytest.mark.parametrize("name", list(DENIED))
def test_a_denied_command_does_nothing_and_names_its_rule(name: str) -> None:
    instructions, index = DENIED[name]
    engine, vfs, calls = recorded_engine(FILES, SCRIPTS, policy=POLICY)
    before = {path: vfs.read(path) for path in FILES}
    outputs = [output for item in instructions for output in engine.feed(item)]
    absolute = any(
        isinstance(i, StartTag) and "/workspace" in str(i.attributes) for i in instructions
    )
    assert calls == ([("cwd", ())] if absolute else [])  # not one effect of the command
    assert {path: vfs.read(path) for path in FILES} == before
    [output] = outputs
    assert isinstance(output, DeniedOutput) and not output.ok
    assert (output.cause, output.rule_index) == (DenialCause.RULE, index)
    assert output.rule == POLICY.rules[index - 1].describe()
    rendered = output.render()
    assert rendered.startswith(f"[{output.command} ") and "] DENIED: " in rendered
    assert f"rule {index} of the policy ({output.rule}) forbids this" in rendered
    assert "\n" not in rendered
    assert engine.statistics()[output.command].denied == 1
    assert engine.statistics()[output.command].failures == 1


def test_the_denial_names_the_path_it_resolved_to_and_the_rules_reason() -> None:
    engine, _, _ = make_engine(FILES, policy=POLICY)
    output = run_one(engine, command("write_file", "x", path="src/../.git/config"))
    assert output.render().startswith(
        '[write_file .git/config] DENIED: rule 1 of the policy (action = "deny", '
        'command = "write", path = ".git/**") forbids this. git metadata belongs to the host. '
        "Do not retry it"
    )
    assert isinstance(output, DeniedOutput) and output.reason.startswith("git metadata")


ALLOWED: dict[str, list[Instruction]] = {
    "write_file": command("write_file", "x", path="src/new.py"),
    "write_file of a read-denied file": command("write_file", "x", path="secrets/new"),
    "apply_edit": edit("src/app.py", ("return 1", "return 2")),
    "apply_patch": patch("*** Add File: .gitignore", "+x"),
    "read_file": command("read_file", path=".git/config"),
    "list_files": command("list_files", path="."),
    "list_files of a write-denied directory": command("list_files", path=".git"),
    "terminal": command("terminal", "git status"),
    "terminal quoting the prefix": command("terminal", "echo git push"),
    "terminal_signal": command("terminal_signal", pid="1000", signal="INT"),
}


@pytest.mark.parametrize("name", list(ALLOWED))
def test_what_no_rule_denies_runs_as_before(name: str) -> None:
    engine, _, _ = make_engine(FILES, SCRIPTS, policy=POLICY)
    plain, _, _ = make_engine(FILES, SCRIPTS)
    for each in (engine, plain):
        each.execute_turn(command("terminal", "serve"))  # pid 1000, for the signal
    got = run_one(engine, ALLOWED[name])
    assert got.ok, got.render()
    assert got.render() == run_one(plain, ALLOWED[name]).render()


def test_a_malformed_command_fails_on_its_own_without_being_judged() -> None:
    strict = Policy.from_toml('default = "deny"')
    engine, _, _ = make_engine(FILES, policy=strict)
    for instructions, message in (
        (command("write_file", "x"), "missing attribute path"),
        (command("read_file", path="a", colour="red"), "unknown attribute"),
        (command("terminal", ""), "the command is empty"),
        (command("apply_patch", "not a patch"), "a patch starts with"),
        (command("terminal_signal", pid="1"), "missing attribute signal"),
    ):
        output = run_one(engine, instructions)
        assert not isinstance(output, DeniedOutput) and message in (output.error or "")


def test_the_default_decides_when_no_rule_matches() -> None:
    strict = Policy.from_toml(
        'default = "deny"\n[[rule]]\naction = "allow"\ncommand = "read"\npath = "src/**"\n'
    )
    engine, _, _ = make_engine(FILES, policy=strict)
    assert run_one(engine, command("read_file", path="src/app.py")).ok
    denied = run_one(engine, command("read_file", path="docs/readme.md"))
    assert isinstance(denied, DeniedOutput)
    assert (denied.cause, denied.rule_index, denied.rule) == (
        DenialCause.DEFAULT,
        None,
        'default = "deny"',
    )
    assert 'the policy\'s default = "deny" forbids what no rule allows' in denied.render()


def test_a_write_denied_at_its_start_drops_its_body_as_it_streams() -> None:
    engine, vfs, calls = recorded_engine(FILES, policy=POLICY)
    engine.feed(StartTag("write_file", {"path": ".git/config"}))
    for _ in range(1000):
        assert engine.feed(WriteChunk(b"x" * 10_000)) == []
    [output] = engine.feed(command("write_file")[-1])
    assert isinstance(output, DeniedOutput) and calls == []
    assert vfs.read(".git/config") == b"[core]\n"


def test_an_absolute_path_costs_one_cwd_per_engine() -> None:
    engine, _, calls = recorded_engine(FILES, policy=POLICY)
    for _ in range(3):
        for item in command("read_file", path="/workspace/secrets/key"):
            engine.feed(item)
    assert calls == [("cwd", ())]


def test_a_failing_cwd_leaves_absolute_paths_unmatched() -> None:
    class NoCwd(MemoryFileSystem):
        def cwd(self) -> str:
            raise OSError("gone")

    strict = Policy.from_toml(
        'default = "deny"\n[[rule]]\naction = "allow"\ncommand = "read"\npath = "**"\n'
    )
    engine = Engine(NoCwd(FILES), make_engine()[2], policy=strict)
    assert isinstance(
        run_one(engine, command("read_file", path="/workspace/src/app.py")), DeniedOutput
    )
    assert run_one(engine, command("read_file", path="src/app.py")).ok


def test_a_terminal_poll_is_judged_by_rules_without_text() -> None:
    polls = Policy.from_toml(
        'default = "allow"\n[[rule]]\naction = "deny"\ncommand = "terminal"\n'
        'pattern = "."\n[[rule]]\naction = "deny"\ncommand = "signal"\n'
    )
    vfs, terminal = MemoryFileSystem(FILES), ScriptedTerminal(SCRIPTS)
    Engine(vfs, terminal).execute_turn(command("terminal", "serve"))  # pid 1000, unjudged
    under = Engine(vfs, terminal, policy=polls)
    assert run_one(under, command("terminal", pid="1000")).ok  # a pattern needs a text
    assert isinstance(
        run_one(under, command("terminal_signal", pid="1000", signal="INT")), DeniedOutput
    )


def test_statistics_count_denials_among_the_failures() -> None:
    engine, _, _ = make_engine(FILES, SCRIPTS, policy=POLICY)
    engine.execute_turn(
        [
            *command("terminal", "git push"),
            *command("terminal", "git status"),
            *command("terminal", "exit 3"),
            *command("terminal", ""),
        ]
    )
    stats = engine.statistics()["terminal"]
    assert (stats.calls, stats.failures, stats.denied) == (4, 2, 1)


def test_an_oversized_edit_body_fails_as_it_streams_and_is_not_held() -> None:
    import tracemalloc

    from sa3p_engine import Limits

    engine, _, calls = recorded_engine(FILES, limits=Limits(edit_max_bytes=1 << 20))
    chunk = b"y" * (1 << 18)
    cases: list[tuple[list[Instruction], str, list[Instruction]]] = [
        ([StartTag("apply_patch")], "apply_patch", [EndTag("apply_patch")]),
        (
            [StartTag("apply_edit", {"path": "src/app.py"}), StartTag("search")],
            "search",
            [EndTag("search"), EndTag("apply_edit")],
        ),
    ]
    for opening, tag, closing in cases:
        tracemalloc.start()
        for item in opening:
            engine.feed(item)
        for _ in range(64):  # 16 MiB against a 1 MiB cap
            engine.feed(RawChunk(tag, chunk))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        [output] = [output for item in closing for output in engine.feed(item)]
        assert peak < 3 << 20, peak
        assert isinstance(output, CommandOutput) and not output.ok
        assert "is longer than 1048576 bytes; nothing was applied" in (output.error or "")
    assert calls == []


def test_edit_parts_count_together_against_the_cap() -> None:
    from sa3p_engine import Limits

    engine, vfs, _ = make_engine(FILES, limits=Limits(edit_max_bytes=100))
    pairs = [("return 1", "x" * 40)] * 3  # each part fits; together they do not
    output = run_one(engine, edit("src/app.py", *pairs))
    assert not output.ok and "longer than 100 bytes" in (output.error or "")
    assert "split the change into several smaller apply_edit commands" in (output.error or "")
    assert vfs.read("src/app.py") == FILES["src/app.py"]


def test_the_system_prompt_explains_denials_and_the_budget() -> None:
    prompt = generate_system_prompt()
    for needle in ("DENIED", "Do not retry it", "approval", "one status line", "400,000 bytes"):
        assert needle in prompt, needle
