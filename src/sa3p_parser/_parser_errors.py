"""Exceptions for misuse of the parser API.

Problems in the model's output are never raised: they come out in-band as ``ParseProblem``
values. These exceptions mean the caller did something wrong.
"""

from __future__ import annotations


class ParserError(Exception):
    """Base class: the parser API was misused."""


class ParserFinishedError(ParserError):
    """``feed()`` or ``finish()`` was called after ``finish()``."""


class ParserInputTypeError(ParserError, TypeError):
    """``feed()`` was given something other than bytes, bytearray, memoryview or str.

    Attributes:
        received: the name of the type that was passed.
    """

    def __init__(self, received: str) -> None:
        super().__init__(f"feed() takes bytes or str, not {received}")
        self.received = received


class ParserConfigError(ParserError, ValueError):
    """A ``ParserConfig`` value is invalid.

    Attributes:
        option: the name of the offending option.
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
