"""Helpers for the parser tests: parse a document whole, byte by byte, and at every split."""

from __future__ import annotations

from collections.abc import Callable

from sa3p_parser import Instruction, InstructionParser, ParserConfig, coalesce
from sa3p_parser.testing import feed_in_chunks, same_instructions

Parse = Callable[..., list[Instruction]]


def parse_all_ways(document: bytes | str, config: ParserConfig | None = None) -> list[Instruction]:
    """Parse whole, byte by byte and at every single split; assert they agree; return whole."""
    data = document.encode() if isinstance(document, str) else document
    whole = coalesce(feed_in_chunks(InstructionParser(config), [data]))
    by_byte = feed_in_chunks(InstructionParser(config), [data[i : i + 1] for i in range(len(data))])
    assert coalesce(by_byte) == whole
    for cut in range(1, len(data)) if len(data) <= 400 else ():
        split = feed_in_chunks(InstructionParser(config), [data[:cut], data[cut:]])
        assert same_instructions(split, whole), cut
    return whole
