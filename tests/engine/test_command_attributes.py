"""Attributes: an unknown one is an error (the command does not run), messages never show internal
bounds, and every failure carries the line and column of its command's tag."""

from __future__ import annotations

import pytest

from sa3p_engine import build_manifest
from sa3p_engine.testing import CONFORMANCE_COMMANDS
from sa3p_parser import EndTag, InstructionParser, ParserConfig, Position, StartTag

from .engine_helpers import command, make_engine, run_one

FILES = {"a.txt": b"alpha\nbeta\n"}


def _accepted() -> dict[str, list[str]]:
    return {
        spec.name: [attribute.name for attribute in spec.attributes]
        for spec in build_manifest().commands
    }


@pytest.mark.parametrize("name", sorted(_accepted()))
def test_an_unknown_attribute_is_an_error_naming_it_and_the_accepted_ones(name: str) -> None:
    engine, vfs, terminal = make_engine(dict(FILES), dict(CONFORMANCE_COMMANDS))
    attributes = {"path": "a.txt", "timeout_s": "120"}
    if name not in ("write_file", "read_file", "list_files", "apply_edit"):
        attributes.pop("path")
    at = Position(line=3, column=5, offset=40)
    body = b"printf hello" if name == "terminal" else b"new\n" if name == "write_file" else b""
    instructions = command(name, body, **attributes)
    instructions[0] = StartTag(name, attributes, position=at)
    output = run_one(engine, instructions)
    assert not output.ok and output.position == at
    error = output.error or ""
    assert 'unknown attribute timeout_s="120"' in error and "was not run" in error
    accepted = _accepted()[name]
    if accepted:
        assert f"it accepts {', '.join(accepted)}" in error
    else:
        assert "takes no attributes" in error
    assert "(line 3, column 5)" in output.render()
    assert vfs.read("a.txt") == FILES["a.txt"]
    assert terminal.active_pids() == []


def test_terminal_with_a_misspelt_timeout_does_not_run() -> None:
    engine, _, terminal = make_engine(scripts=dict(CONFORMANCE_COMMANDS))
    output = run_one(engine, command("terminal", "printf hello", timeout_s="120"))
    assert (
        not output.ok
        and "timeout_s" in (output.error or "")
        and "timeout, pid" in (output.error or "")
    )
    assert terminal.active_pids() == []


def test_known_attributes_still_work() -> None:
    engine, _, _ = make_engine(dict(FILES), dict(CONFORMANCE_COMMANDS))
    assert run_one(engine, command("terminal", "printf hello", timeout="5")).ok
    assert run_one(engine, command("read_file", path="a.txt", start_line="2", end_line="2")).ok


@pytest.mark.parametrize("value", ["abc", "1.5", "99999999999999999999999", ""])
def test_line_attributes_never_show_internal_bounds(value: str) -> None:
    engine, _, _ = make_engine(dict(FILES))
    output = run_one(engine, command("read_file", path="a.txt", start_line=value or " x "))
    assert not output.ok
    error = output.error or ""
    assert "-100000000" not in error and ">=" not in error
    assert 'write start_line="1"' in error


def test_failures_from_the_parser_stream_carry_the_tags_position() -> None:
    parser = InstructionParser(ParserConfig())
    reply = b'Reading it.\n\n  <read_file path="missing.txt"/>\n'
    engine, _, _ = make_engine()
    [output] = engine.execute_turn(parser.feed(reply) + parser.finish()).outputs
    assert not output.ok and output.position is not None
    assert (output.position.line, output.position.column) == (3, 3)
    assert output.render().startswith("[read_file missing.txt] FAILED (line 3, column 3): ")


def test_a_nested_command_report_keeps_its_position() -> None:
    engine, _, _ = make_engine()
    at = Position(line=2, column=1, offset=10)
    outputs = engine.execute_turn(
        [
            StartTag("terminal", {}, position=at),
            *command("read_file", path="a.txt")[:1],
            EndTag("read_file"),
        ]
    ).outputs
    assert outputs[0].position == at and not outputs[0].ok
