"""The parser's options, as one frozen value."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sa3p_parser._parser_errors import ParserConfigError

__all__ = [
    "DEFAULT_CHILD_TAGS",
    "DEFAULT_COMMAND_TAGS",
    "DEFAULT_RAW_TAGS",
    "MarkdownPolicy",
    "ParserConfig",
]

_TAG_NAME = re.compile(r"[A-Za-z_:][-A-Za-z0-9_:.]*\Z")

DEFAULT_COMMAND_TAGS = frozenset(
    {
        "write_file",
        "read_file",
        "apply_edit",
        "apply_patch",
        "list_files",
        "terminal",
        "terminal_signal",
    }
)
DEFAULT_RAW_TAGS = frozenset({"write_file", "terminal", "apply_patch", "search", "replace"})
DEFAULT_CHILD_TAGS: Mapping[str, frozenset[str]] = MappingProxyType(
    {"apply_edit": frozenset({"search", "replace"})}
)

MIN_TAG_LENGTH = 64
MAX_TAG_LENGTH = 1 << 20


class MarkdownPolicy(enum.Enum):
    """What happens to a command tag the model wrote inside markdown code (issue rule 8).

    A quoted command is passed through as ``Text`` and reported as
    ``ParseProblem(QUOTED_COMMAND)`` so the engine can tell the model it was not run.
    """

    QUOTE_CODE = "quote_code"
    """Default. Commands in inline code spans and in fenced code blocks are quoted, not run."""
    QUOTE_INLINE_CODE = "quote_inline_code"
    """Commands in inline code spans are quoted; commands in fenced blocks run."""
    IGNORE = "ignore"
    """Markdown-agnostic, like the Rust original: every command tag runs."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParserConfig:
    """Options of ``StreamingParser`` and ``InstructionParser``.

    Attributes:
        command_tags: tags that are commands at the top level.
        raw_tags: tags whose body is opaque bytes, ended only by the exact close tag.
        child_tags: for a command, the tags that are structure inside it (``apply_edit``'s
            ``search`` and ``replace``). A command listed here is a *container*: its own text is
            passed through byte-exact, CDATA sections in it are unwrapped.
        markdown: the policy for command tags inside markdown code.
        max_tag_length: the longest tag, in bytes, the parser waits for; a longer one is
            reported as ``UNTERMINATED_TAG`` and passed through as text.
        write_chunk_tag: the raw tag whose body ``InstructionParser`` emits as ``WriteChunk``.
        max_invalid_utf8_reports: how many ``INVALID_UTF8`` problems to report per stream.
    """

    command_tags: frozenset[str] = DEFAULT_COMMAND_TAGS
    raw_tags: frozenset[str] = DEFAULT_RAW_TAGS
    child_tags: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: DEFAULT_CHILD_TAGS, hash=False
    )
    markdown: MarkdownPolicy = MarkdownPolicy.QUOTE_CODE
    max_tag_length: int = 8192
    write_chunk_tag: str = "write_file"
    max_invalid_utf8_reports: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "command_tags", frozenset(self.command_tags))
        object.__setattr__(self, "raw_tags", frozenset(self.raw_tags))
        children = {key: frozenset(value) for key, value in self.child_tags.items()}
        object.__setattr__(self, "child_tags", MappingProxyType(children))
        for name in sorted(self.command_tags | self.raw_tags | {self.write_chunk_tag}):
            _check_name("tag names", name)
        for parent, names in children.items():
            _check_name("child_tags", parent)
            for name in sorted(names):
                _check_name("child_tags", name)
                if name in self.command_tags:
                    raise ParserConfigError("child_tags", f"{name!r} is also a command tag")
        if not MIN_TAG_LENGTH <= self.max_tag_length <= MAX_TAG_LENGTH:
            raise ParserConfigError(
                "max_tag_length", f"must be in [{MIN_TAG_LENGTH}, {MAX_TAG_LENGTH}]"
            )
        if self.max_invalid_utf8_reports < 0:
            raise ParserConfigError("max_invalid_utf8_reports", "must not be negative")

    @property
    def longest_name(self) -> int:
        """The length in bytes of the longest tag name the parser must recognise."""
        names = self.command_tags | {name for v in self.child_tags.values() for name in v}
        return max((len(name.encode()) for name in names), default=1)


def _check_name(option: str, name: str) -> None:
    if not isinstance(name, str) or not _TAG_NAME.match(name):
        raise ParserConfigError(option, f"{name!r} is not a valid tag name")
