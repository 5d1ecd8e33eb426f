"""The two public parsers: generic events, or instructions with ``WriteChunk`` bodies."""

from __future__ import annotations

from typing import cast

from sa3p_parser._instructions import Instruction
from sa3p_parser._parser_config import ParserConfig
from sa3p_parser._parser_core import ParserEvent
from sa3p_parser._text_scanner import TextScanner

__all__ = ["InstructionParser", "StreamingParser"]


class StreamingParser(TextScanner):
    """Turns a byte stream of prose and command tags into generic ``ParserEvent`` values.

    Chunk boundaries carry no meaning: any split of the same bytes gives the same events once
    adjacent text and same-tag raw chunks are merged (``coalesce``). Problems in the input are
    reported in-band as ``ParseProblem`` values and never raised; exceptions (``ParserError``)
    mean the API was misused.

    Args:
        config: the options; ``ParserConfig()`` by default.
    """

    def __init__(self, config: ParserConfig | None = None) -> None:
        super().__init__(config, None)

    def feed(self, data: bytes | bytearray | memoryview | str) -> list[ParserEvent]:
        """Parse the next chunk of the stream.

        Args:
            data: the bytes (or text, encoded as UTF-8) that follow the previous chunk.

        Returns:
            What this chunk completed.

        Raises:
            ParserFinishedError: ``finish()`` was already called.
            ParserInputTypeError: ``data`` is not bytes-like or ``str``.
        """
        return cast("list[ParserEvent]", self._feed(data))

    def finish(self) -> list[ParserEvent]:
        """End the stream: flush what is held back and report commands left open.

        A command still open gets ``ParseProblem(UNCLOSED_COMMAND)`` and no ``EndTag``.

        Raises:
            ParserFinishedError: ``finish()`` was already called.
        """
        return cast("list[ParserEvent]", self._finish())


class InstructionParser(TextScanner):
    """Turns a model's streamed output into ``Instruction`` values for the engine.

    The same as ``StreamingParser``, except that the body of ``config.write_chunk_tag``
    (``write_file``) comes out as ``WriteChunk`` values, which map 1:1 onto protocol write-chunk
    frames without buffering the file.

    Args:
        config: the options; ``ParserConfig()`` by default.
    """

    def __init__(self, config: ParserConfig | None = None) -> None:
        resolved = config if config is not None else ParserConfig()
        super().__init__(resolved, resolved.write_chunk_tag)

    # The inherited method itself, not a wrapper: one call less per chunk on the hot path.
    feed = TextScanner._feed
    feed.__doc__ = StreamingParser.feed.__doc__

    def finish(self) -> list[Instruction]:
        """End the stream: flush what is held back and report commands left open.

        A command still open gets ``ParseProblem(UNCLOSED_COMMAND)`` and no ``EndTag``: a
        truncated write_file is never complete.

        Raises:
            ParserFinishedError: ``finish()`` was already called.
        """
        return self._finish()
