"""sa3p_parser: an incremental, Sans-IO parser for the command tags a model streams.

Public surface only; the implementation lives in private modules.
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

__all__ = [
    "EndTag",
    "Instruction",
    "ParseProblem",
    "Position",
    "ProblemKind",
    "RawChunk",
    "StartTag",
    "Text",
    "WriteChunk",
    "coalesce",
]
