"""The public surface: misuse raises ParserError subclasses, options are validated."""

from __future__ import annotations

import pytest

import sa3p_parser
from sa3p_parser import (
    EndTag,
    InstructionParser,
    ParserConfig,
    ParserConfigError,
    ParserError,
    ParserFinishedError,
    ParserInputTypeError,
    RawChunk,
    StartTag,
    StreamingParser,
    WriteChunk,
)


def test_every_exported_name_exists() -> None:
    for name in sa3p_parser.__all__:
        assert hasattr(sa3p_parser, name), name


@pytest.mark.parametrize("kind", [InstructionParser, StreamingParser])
def test_feed_and_finish_after_finish_raise(kind: type[InstructionParser]) -> None:
    parser = kind()
    parser.finish()
    with pytest.raises(ParserFinishedError):
        parser.feed(b"x")
    with pytest.raises(ParserFinishedError):
        parser.finish()


def test_wrong_input_type_raises_a_parser_error_that_is_a_type_error() -> None:
    parser = InstructionParser()
    with pytest.raises(ParserInputTypeError) as caught:
        parser.feed(42)  # type: ignore[arg-type]
    assert isinstance(caught.value, ParserError) and isinstance(caught.value, TypeError)
    assert caught.value.received == "int"
    assert parser.feed(b"still usable") != []


def test_str_bytearray_and_memoryview_are_accepted() -> None:
    for data in (
        "é<read_file path='a'/>",
        bytearray(b"<read_file path='a'/>"),
        memoryview(b"<read_file path='a'/>"),
    ):
        out = InstructionParser().feed(data)
        assert StartTag("read_file", {"path": "a"}) in out


def test_streaming_parser_gives_raw_chunks_instruction_parser_write_chunks() -> None:
    document = b'<write_file path="a">x</write_file>'
    assert StreamingParser().feed(document) == [
        StartTag("write_file", {"path": "a"}),
        RawChunk("write_file", b"x"),
        EndTag("write_file"),
    ]
    assert InstructionParser().feed(document)[1] == WriteChunk(b"x")


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"max_tag_length": 10}, "max_tag_length"),
        ({"command_tags": frozenset({"bad name"})}, "tag names"),
        ({"child_tags": {"apply_edit": frozenset({"read_file"})}}, "child_tags"),
        ({"max_invalid_utf8_reports": -1}, "max_invalid_utf8_reports"),
    ],
)
def test_invalid_config_is_rejected(options: dict[str, object], option: str) -> None:
    with pytest.raises(ParserConfigError) as caught:
        ParserConfig(**options)  # type: ignore[arg-type]
    assert caught.value.option == option


def test_config_is_frozen_and_open_tags_are_visible() -> None:
    config = ParserConfig()
    with pytest.raises(AttributeError):
        config.max_tag_length = 1  # type: ignore[misc]
    parser = InstructionParser(config)
    parser.feed("<apply_edit path='a'><search>")
    assert parser.open_tags == ("apply_edit", "search")
    assert parser.config is config
