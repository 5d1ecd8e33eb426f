"""Asking a person: the Approve effect, sync and async approvers, always, and no one to ask."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from sa3p_engine import (
    ApplyEditOutput,
    Approval,
    ApprovalRequest,
    AsyncEngine,
    CommandKind,
    DenialCause,
    DeniedOutput,
    Engine,
    Policy,
    TerminalOutput,
)
from sa3p_engine.testing import MemoryFileSystem, ScriptedCommand, ScriptedTerminal
from sa3p_parser import Instruction

from .engine_helpers import command, edit, recorded_engine, run_one

FILES = {"src/app.py": b"def main():\n    return 1\n", "docs/a.md": b"old\n"}
SCRIPTS = {"git push": ScriptedCommand(output=b"pushed\n"), "ls": ScriptedCommand(output=b"a\n")}

ASKING = Policy.from_toml(
    """
default = "allow"

[[rule]]
action = "ask"
command = "terminal"
prefix = "git push"

[[rule]]
action = "ask"
command = "write"
path = "src/**"

[[rule]]
action = "ask"
command = "*"
path = "docs/**"

[[rule]]
action = "deny"
command = "write"
path = "src/locked.py"
"""
)

PATCH = (
    "*** Begin Patch\n*** Update File: src/app.py\n-    return 1\n+    return 2\n*** End Patch\n"
)
ASKED: dict[str, tuple[list[Instruction], dict[str, Any]]] = {
    "terminal": (
        command("terminal", "git push origin"),
        {"kinds": (CommandKind.TERMINAL,), "paths": (), "text": "git push origin", "change": ""},
    ),
    "write_file": (
        command("write_file", "new content\n", path="./src/new.py"),
        {"kinds": (CommandKind.WRITE,), "paths": ("src/new.py",), "change": "new content\n"},
    ),
    "apply_edit": (
        edit("src/app.py", ("return 1", "return 2")),
        {
            "kinds": (CommandKind.WRITE, CommandKind.READ),
            "paths": ("src/app.py",),
            "change": "@@ -1,2 +1,2 @@\n def main():\n-    return 1\n+    return 2",
        },
    ),
    "apply_patch": (
        command("apply_patch", PATCH),
        {
            "paths": ("src/app.py",),
            "change": "--- src/app.py\n+++ src/app.py\n@@ -1,2 +1,2 @@\n def main():\n"
            "-    return 1\n+    return 2",
        },
    ),
    "read_file": (
        command("read_file", path="docs/a.md"),
        {"kinds": (CommandKind.READ,), "paths": ("docs/a.md",), "change": ""},
    ),
    "list_files": (
        command("list_files", path="docs"),
        {"kinds": (CommandKind.LIST,), "paths": ("docs",)},
    ),
}


def snapshot(vfs: MemoryFileSystem) -> dict[str, bytes]:
    return {
        node.path: vfs.read(node.path) for node in vfs.list_tree(".") if node.kind.value == "file"
    }


@pytest.mark.parametrize("name", list(ASKED))
def test_no_approver_means_denied_and_says_no_one_could_be_asked(name: str) -> None:
    engine, vfs, calls = recorded_engine(FILES, SCRIPTS, policy=ASKING)
    outputs = [output for item in ASKED[name][0] for output in engine.feed(item)]
    [output] = outputs
    assert isinstance(output, DeniedOutput) and output.cause is DenialCause.UNANSWERED
    assert "asks for approval, and no one could be asked" in output.render()
    assert "tell the user it needs their approval" in output.render()
    assert calls == []
    assert snapshot(vfs) == FILES


@pytest.mark.parametrize("name", list(ASKED))
def test_the_approver_sees_the_command_and_its_change_before_anything_happens(name: str) -> None:
    requests: list[ApprovalRequest] = []
    effects_when_asked: list[list[str]] = []

    def approver(request: ApprovalRequest) -> bool:
        requests.append(request)
        writes = [n for n, _ in calls if n in ("open_writer", "write", "commit", "run", "remove")]
        effects_when_asked.append(writes)
        return True

    engine, _, calls = recorded_engine(FILES, SCRIPTS, policy=ASKING, approver=approver)
    output = run_one(engine, ASKED[name][0])
    assert output.ok, output.render()
    [request] = requests
    assert request.command == output.command
    for field, value in ASKED[name][1].items():
        assert getattr(request, field) == value, field
    assert request.rule_index in (1, 2, 3) and request.rule.startswith('action = "ask"')
    assert effects_when_asked == [[]]  # nothing changed before the answer


@pytest.mark.parametrize("name", list(ASKED))
def test_a_refusal_does_nothing_and_says_so(name: str) -> None:
    engine, vfs, calls = recorded_engine(FILES, SCRIPTS, policy=ASKING, approver=lambda r: False)
    output = run_one(engine, ASKED[name][0])
    assert isinstance(output, DeniedOutput) and output.cause is DenialCause.REFUSED
    assert "asks for approval, and the user refused. Do not retry it as it is" in output.render()
    assert not [n for n, _ in calls if n in ("open_writer", "write", "commit", "run", "remove")]
    assert snapshot(vfs) == FILES
    assert engine.statistics()[output.command].denied == 1


def test_nothing_after_the_command_runs_before_the_answer() -> None:
    order: list[str] = []

    def approver(request: ApprovalRequest) -> bool:
        order.append(f"asked {request.text}")
        return True

    terminal = ScriptedTerminal(SCRIPTS)
    engine = Engine(MemoryFileSystem(FILES), terminal, policy=ASKING, approver=approver)
    for item in [*command("terminal", "git push"), *command("terminal", "ls")]:
        for output in engine.feed(item):
            order.append(f"ran {output.subject}")
    assert order == ["asked git push", "ran git push", "ran ls"]
    assert terminal.commands_run == ["git push", "ls"]


def test_always_allows_the_same_subject_from_then_on_and_nothing_wider() -> None:
    requests: list[ApprovalRequest] = []

    def approver(request: ApprovalRequest) -> Approval:
        requests.append(request)
        return Approval.ALWAYS

    engine, _, _ = recorded_engine(FILES, SCRIPTS, policy=ASKING, approver=approver)
    for _ in range(3):
        assert run_one(engine, command("terminal", "git push")).ok
        assert run_one(engine, command("write_file", "x", path="src/new.py")).ok
    assert [r.text or r.paths for r in requests] == ["git push", ("src/new.py",)]
    assert requests[0].always == "this exact command text, for the rest of this run: git push"
    assert requests[1].always == "for the rest of this run: write src/new.py"
    run_one(engine, command("terminal", "git push --force"))
    run_one(engine, command("write_file", "x", path="src/other.py"))
    run_one(engine, command("write_file", "x", path="/workspace/src/new.py"))  # the same path
    assert len(requests) == 4
    denied = run_one(engine, command("write_file", "x", path="src/locked.py"))
    assert isinstance(denied, DeniedOutput) and denied.cause is DenialCause.RULE


def test_an_approver_that_fails_or_answers_nonsense_denies() -> None:
    def broken(request: ApprovalRequest) -> bool:
        raise RuntimeError("tty gone")

    for approver, message in (
        (broken, "asking failed (RuntimeError: tty gone)"),
        (lambda r: "yes", "asking failed (TypeError: an approver returns a bool or an Approval"),
    ):
        engine, _, calls = recorded_engine(FILES, SCRIPTS, policy=ASKING, approver=approver)
        output = run_one(engine, command("terminal", "git push"))
        assert isinstance(output, DeniedOutput) and output.cause is DenialCause.UNANSWERED
        assert message in output.render() and ("run", ("git push",)) not in calls


def test_an_interrupt_while_asking_is_not_swallowed() -> None:
    def interrupted(request: ApprovalRequest) -> bool:
        raise KeyboardInterrupt

    engine, _, _ = recorded_engine(FILES, SCRIPTS, policy=ASKING, approver=interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.execute_turn(command("terminal", "git push"))


def test_engine_refuses_an_async_approver() -> None:
    async def approver(request: ApprovalRequest) -> bool:
        return True

    class Callable:
        async def __call__(self, request: ApprovalRequest) -> bool:
            return True

    for each in (approver, Callable()):
        with pytest.raises(TypeError, match="use AsyncEngine"):
            Engine(MemoryFileSystem(), ScriptedTerminal(), approver=each)  # type: ignore[arg-type]


# --- AsyncEngine, on asyncio and trio ---------------------------------------------------------


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _turn(
    approver: Any, instructions: list[Instruction]
) -> tuple[list[Any], MemoryFileSystem]:
    vfs = MemoryFileSystem(FILES)
    async with AsyncEngine(
        vfs, ScriptedTerminal(SCRIPTS), policy=ASKING, approver=approver
    ) as engine:
        turn = await engine.execute_turn(instructions)
    return list(turn.outputs), vfs


@pytest.mark.anyio
async def test_async_engine_awaits_an_async_approver(anyio_backend: str) -> None:
    seen: list[str] = []

    async def approver(request: ApprovalRequest) -> Approval:
        await anyio.sleep(0)
        seen.append(request.command)
        return Approval.YES if request.command == "apply_edit" else Approval.NO

    outputs, vfs = await _turn(
        approver, [*edit("src/app.py", ("return 1", "return 2")), *command("terminal", "git push")]
    )
    assert seen == ["apply_edit", "terminal"]
    assert isinstance(outputs[0], ApplyEditOutput)
    assert isinstance(outputs[1], DeniedOutput) and outputs[1].cause is DenialCause.REFUSED
    assert vfs.read("src/app.py") == b"def main():\n    return 2\n"


@pytest.mark.anyio
async def test_async_engine_runs_a_sync_approver_off_the_event_loop(anyio_backend: str) -> None:
    import threading

    loop_thread = threading.get_ident()
    threads: list[int] = []

    def approver(request: ApprovalRequest) -> bool:
        threads.append(threading.get_ident())
        return True

    outputs, _ = await _turn(approver, command("terminal", "git push"))
    assert isinstance(outputs[0], TerminalOutput) and outputs[0].output == "pushed\n"
    assert threads and threads[0] != loop_thread


@pytest.mark.anyio
async def test_async_engine_takes_an_async_callable_object_and_always(anyio_backend: str) -> None:
    class Approver:
        def __init__(self) -> None:
            self.asked = 0

        async def __call__(self, request: ApprovalRequest) -> Approval:
            self.asked += 1
            return Approval.ALWAYS

    approver = Approver()
    outputs, _ = await _turn(approver, [*command("terminal", "git push")] * 3)
    assert [o.ok for o in outputs] == [True, True, True] and approver.asked == 1


@pytest.mark.anyio
async def test_async_engine_without_approver_denies(anyio_backend: str) -> None:
    outputs, _ = await _turn(None, command("terminal", "git push"))
    assert isinstance(outputs[0], DeniedOutput) and outputs[0].cause is DenialCause.UNANSWERED


def test_a_poll_is_asked_about_by_pid_and_allowed_once() -> None:
    polls = Policy.from_toml('default = "allow"\n[[rule]]\naction = "ask"\ncommand = "terminal"\n')
    requests: list[ApprovalRequest] = []

    def approver(request: ApprovalRequest) -> Approval:
        requests.append(request)
        return Approval.ALWAYS

    scripts = {"serve": ScriptedCommand(exit_code=None, later_output=b"req\n")}
    engine, _, _ = recorded_engine(FILES, scripts, policy=polls, approver=approver)
    run_one(engine, command("terminal", "serve"))
    for _ in range(2):
        assert run_one(engine, command("terminal", pid="1000")).ok
    assert [r.text for r in requests] == ["serve", "pid 1000", "pid 1000"]
    assert requests[1].always == "this command only (it has no text or path to remember)"
