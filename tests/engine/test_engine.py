"""The engine's instruction state machine: order, problems, failures, lifecycle, statistics."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sa3p_engine import (
    CommandOutput,
    Engine,
    EngineClosedError,
    FileHash,
    NoticeOutput,
    StateHeader,
    TurnResult,
)
from sa3p_engine.testing import MemoryFileSystem, ScriptedCommand, ScriptedTerminal
from sa3p_parser import (
    EndTag,
    Instruction,
    ParseProblem,
    Position,
    ProblemKind,
    RawChunk,
    StartTag,
    Text,
    WriteChunk,
)

from .engine_helpers import command, make_engine, run_one

AT = Position(2, 5, 17)


def problem(kind: ProblemKind, tag: str | None = None) -> ParseProblem:
    return ParseProblem(kind=kind, message=f"{kind.value} here", position=AT, tag=tag)


def test_feed_returns_each_output_as_soon_as_its_command_closes() -> None:
    engine, _, _ = make_engine({"a.txt": b"x\n"})
    assert engine.feed(Text("Let me look.")) == []
    assert engine.feed(StartTag("read_file", {"path": "a.txt"})) == []
    [output] = engine.feed(EndTag("read_file"))
    assert output.ok and output.command == "read_file"
    result = engine.finish_turn()
    assert result.outputs == (output,)
    assert engine.finish_turn().outputs == ()  # the next turn starts empty


def test_outputs_keep_command_order_and_the_turn_renders_header_first() -> None:
    engine, _, _ = make_engine({"a.txt": b"x\n"})
    result = engine.execute_turn(
        [*command("list_files"), *command("read_file", path="a.txt"), *command("read_file")]
    )
    assert [o.command for o in result.outputs] == ["list_files", "read_file", "read_file"]
    assert [o.ok for o in result.outputs] == [True, True, False]
    text = result.render()
    assert text.startswith("[state]\ncwd: /workspace\n")
    assert text.index("[list_files") < text.index("[read_file a.txt] ok")


def test_empty_turn_renders_a_placeholder() -> None:
    engine, _, _ = make_engine()
    assert "(no commands ran in this turn)" in engine.execute_turn([Text("hi")]).render()


def test_quoted_command_becomes_a_notice() -> None:
    engine, _, _ = make_engine()
    output = run_one(
        engine, [Text("`<terminal>ls</terminal>`"), problem(ProblemKind.QUOTED_COMMAND, "terminal")]
    )
    assert isinstance(output, NoticeOutput) and not output.ok
    assert output.render() == "[notice] quoted_command here at line 2, column 5 (byte 17)"


@pytest.mark.parametrize(
    "kind",
    [
        ProblemKind.MALFORMED_TAG,
        ProblemKind.UNTERMINATED_TAG,
        ProblemKind.UNEXPECTED_CLOSE,
        ProblemKind.INVALID_UTF8,
    ],
)
def test_other_parse_problems_become_failed_outputs_with_position(kind: ProblemKind) -> None:
    engine, _, _ = make_engine()
    output = run_one(engine, [problem(kind, "read_file")])
    assert not output.ok and output.error == f"{kind.value} here at line 2, column 5 (byte 17)"
    assert output.command == "read_file"


def test_nested_command_abandons_the_open_one_and_runs_the_next() -> None:
    engine, _, _ = make_engine({"a.txt": b"x\n"})
    result = engine.execute_turn(
        [
            StartTag("read_file", {"path": "a.txt"}),
            problem(ProblemKind.NESTED_COMMAND, "list_files"),
            EndTag("read_file"),  # the parser closes the abandoned command
            *command("list_files"),
        ]
    )
    first, second = result.outputs
    assert not first.ok and first.error is not None and "it was not run" in first.error
    assert second.ok and second.command == "list_files"


def test_start_tag_inside_an_open_command_without_a_report_is_handled_too() -> None:
    engine, _, _ = make_engine({"a.txt": b"x\n"})
    result = engine.execute_turn([StartTag("read_file", {"path": "a.txt"}), *command("list_files")])
    assert [o.ok for o in result.outputs] == [False, True]
    assert "<list_files> opened before </read_file>" in (result.outputs[0].error or "")


def test_unclosed_terminal_is_not_run() -> None:
    engine, _, terminal = make_engine(scripts={"rm -rf build": ScriptedCommand()})
    output = run_one(
        engine,
        [
            StartTag("terminal", {}),
            RawChunk("terminal", b"rm -rf build"),
            problem(ProblemKind.UNCLOSED_COMMAND, "terminal"),
        ],
    )
    assert not output.ok and terminal.commands_run == []


@pytest.mark.parametrize(
    ("instructions", "message"),
    [
        ([EndTag("read_file")], "</read_file> without its opening tag"),
        ([WriteChunk(b"x")], "WriteChunk outside any command"),
        ([RawChunk("terminal", b"ls")], "RawChunk outside any command"),
        ([StartTag("frobnicate", {}), EndTag("frobnicate")], "unknown command"),
        ([StartTag("search", {})], "<search> is outside <apply_edit>"),
        (
            [StartTag("terminal", {}), WriteChunk(b"ls"), EndTag("terminal")],
            "WriteChunk inside <terminal>",
        ),
        (
            [StartTag("read_file", {"path": "a"}), EndTag("list_files"), EndTag("read_file")],
            "</list_files> inside <read_file> does not close it",
        ),
    ],
)
def test_out_of_order_instructions_fail_clearly(
    instructions: list[Instruction], message: str
) -> None:
    engine, _, _ = make_engine()
    outputs = engine.execute_turn(instructions).outputs
    assert any(message in (output.error or "") for output in outputs), outputs


class ExplodingFileSystem(MemoryFileSystem):
    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        raise ZeroDivisionError("boom")

    def cwd(self) -> str:
        raise RuntimeError("no cwd")


def test_unexpected_backend_exceptions_become_failed_outputs() -> None:
    engine = Engine(ExplodingFileSystem({"a.txt": b"x"}), ScriptedTerminal())
    result = engine.execute_turn(command("read_file", path="a.txt"))
    [output] = result.outputs
    assert output.error == "backend failure: ZeroDivisionError: boom"
    assert result.state_header.cwd == "(unknown)"


def test_close_releases_the_terminal_and_works_as_a_context_manager() -> None:
    terminal = ScriptedTerminal({"serve": ScriptedCommand(exit_code=None)})
    vfs = MemoryFileSystem()
    with Engine(vfs, terminal) as engine:
        engine.execute_turn(command("terminal", b"serve"))
        assert terminal.active_pids() == [1000]
        engine.feed(StartTag("write_file", {"path": "half.txt"}))
        engine.feed(WriteChunk(b"partial"))
    assert terminal.active_pids() == []
    assert vfs.list_tree(".") == []
    engine.close()  # idempotent
    with pytest.raises(EngineClosedError):
        engine.feed(Text("x"))


def test_statistics_count_calls_failures_and_time_with_the_injected_clock() -> None:
    ticks = itertools.count()
    engine = Engine(
        MemoryFileSystem({"a.txt": b"x"}), ScriptedTerminal(), clock=lambda: float(next(ticks))
    )
    engine.execute_turn(
        [*command("read_file", path="a.txt"), *command("read_file"), *command("list_files")]
    )
    stats = engine.statistics()
    assert list(stats) == ["list_files", "read_file"]
    assert (stats["read_file"].calls, stats["read_file"].failures) == (2, 1)
    assert stats["read_file"].seconds == 2.0  # one tick from start tag to output, per call


def test_state_header_is_deterministic() -> None:
    one = StateHeader("/w", [FileHash("b", "2"), FileHash("a", "1")], [30, 4])
    two = StateHeader("/w", [FileHash("a", "1"), FileHash("b", "2")], [4, 30])
    assert (
        one.render()
        == two.render()
        == ("[state]\ncwd: /w\nactive pids: 4, 30\nrecent files (sha256):\n  a 1\n  b 2")
    )
    assert StateHeader("/w").render() == "[state]\ncwd: /w\nactive pids: none\nrecent files: none"


def test_state_header_reflects_the_backends() -> None:
    engine, _, _ = make_engine(scripts={"serve": ScriptedCommand(exit_code=None)})
    result = engine.execute_turn(
        [*command("write_file", b"x", path="n.txt"), *command("terminal", b"serve")]
    )
    header = result.state_header
    assert header.active_pids == [1000] and [h.path for h in header.recent_hashes] == ["n.txt"]


def test_output_invariants() -> None:
    with pytest.raises(ValueError):
        CommandOutput(command="x", ok=True, error="but failed")
    with pytest.raises(ValueError):
        CommandOutput(command="x", ok=False)
    assert isinstance(TurnResult.of([], StateHeader("/")), TurnResult)


def test_unknown_values_fed_are_a_caller_bug() -> None:
    engine, _, _ = make_engine()
    with pytest.raises(TypeError):
        engine.feed("text")  # type: ignore[arg-type]


NAMES = st.sampled_from(
    [
        "write_file",
        "read_file",
        "list_files",
        "terminal",
        "terminal_signal",
        "apply_edit",
        "search",
        "replace",
        "div",
    ]
)
ATTRIBUTES = st.dictionaries(
    st.sampled_from(["path", "start_line", "pid", "signal", "timeout", "expected_sha256"]),
    st.sampled_from(["a.txt", "1", "-3", "x", "SIGINT", "../b", ""]),
)
INSTRUCTIONS = st.lists(
    st.one_of(
        st.builds(StartTag, NAMES, ATTRIBUTES),
        st.builds(EndTag, NAMES),
        st.builds(Text, st.text(max_size=20)),
        st.builds(WriteChunk, st.binary(max_size=20)),
        st.builds(RawChunk, NAMES, st.binary(max_size=20)),
        st.builds(
            lambda kind, tag: ParseProblem(kind=kind, message="m", position=AT, tag=tag),
            st.sampled_from(ProblemKind),
            st.none() | NAMES,
        ),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(INSTRUCTIONS)
def test_no_instruction_sequence_makes_the_engine_raise(instructions: list[Instruction]) -> None:
    engine, _, _ = make_engine({"a.txt": b"line\n"}, scripts={"x": ScriptedCommand()})
    result = engine.execute_turn(instructions)
    for output in result.outputs:
        assert output.ok == (output.error is None)
        assert isinstance(output.render(), str)
    engine.close()


def test_the_transition_table_covers_every_state_and_event() -> None:
    from sa3p_engine._engine_core import _TRANSITIONS, _Event, _State

    assert set(_TRANSITIONS) == {(state, event) for state in _State for event in _Event}
