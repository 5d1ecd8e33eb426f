"""sa3p_parser: an incremental, Sans-IO parser for the command tags a model streams.

Public surface only; the implementation lives in private modules. See docs/PARSER.md.
"""

from sa3p_parser._instructions import (
    EndTag,
    Instruction,
    ParseProblem,
    Position,
    ProblemKind,
    RawChunk,
    StartTag,
    Text,
    WriteChunk,
    coalesce,
)
from sa3p_parser._parser_config import (
    DEFAULT_CHILD_TAGS,
    DEFAULT_COMMAND_TAGS,
    DEFAULT_RAW_TAGS,
    MarkdownPolicy,
    ParserConfig,
)
from sa3p_parser._parser_core import ParserEvent
from sa3p_parser._parser_errors import (
    ParserConfigError,
    ParserError,
    ParserFinishedError,
    ParserInputTypeError,
)
from sa3p_parser._public_parsers import InstructionParser, StreamingParser

__all__ = [
    "DEFAULT_CHILD_TAGS",
    "DEFAULT_COMMAND_TAGS",
    "DEFAULT_RAW_TAGS",
    "EndTag",
    "Instruction",
    "InstructionParser",
    "MarkdownPolicy",
    "ParseProblem",
    "ParserConfig",
    "ParserConfigError",
    "ParserError",
    "ParserEvent",
    "ParserFinishedError",
    "ParserInputTypeError",
    "Position",
    "ProblemKind",
    "RawChunk",
    "StartTag",
    "StreamingParser",
    "Text",
    "WriteChunk",
    "coalesce",
]
