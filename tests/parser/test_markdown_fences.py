"""Fence openings that QA found wrong: a ``` line with more backticks is inline code
(CommonMark 4.5), and a fence indented 4+ spaces (nested in a list item) is still a fence.

Every document is parsed whole, byte by byte and at every single split (``parse`` fixture).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sa3p_parser import Instruction, MarkdownPolicy, ParseProblem, ParserConfig, StartTag

from .helpers import Parse

RUN = '<read_file path="r"/>'
SHOW = '<read_file path="s"/>'


def run_names(out: Sequence[Instruction]) -> list[str]:
    return [item.attributes["path"] for item in out if isinstance(item, StartTag)]


def quoted(out: Sequence[Instruction]) -> list[str]:
    return [item.message for item in out if isinstance(item, ParseProblem)]


def test_backtick_line_with_a_later_backtick_is_an_inline_span(parse: Parse) -> None:
    out = parse(f"```{SHOW}```\nNow for real: {RUN}\n")
    assert run_names(out) == ["r"]
    assert len(quoted(out)) == 1
    assert "inline code span" in quoted(out)[0]


def test_backtick_fence_opens_at_the_newline_when_its_line_has_no_other_backtick(
    parse: Parse,
) -> None:
    out = parse(f"```{SHOW}\n{SHOW}\n```\n{RUN}")
    assert run_names(out) == ["r"]
    assert len(quoted(out)) == 2
    assert "inline code span" in quoted(out)[0]  # decided at the newline, quoted either way
    assert "fenced code block" in quoted(out)[1]


def test_a_single_backtick_later_on_the_line_also_cancels_the_fence(parse: Parse) -> None:
    out = parse(f"```python `x`\n{RUN}\n")
    assert run_names(out) == ["r"]


def test_tilde_fence_info_string_may_contain_backticks(parse: Parse) -> None:
    out = parse(f"~~~ `info`\n{SHOW}\n~~~\n{RUN}")
    assert run_names(out) == ["r"]
    assert "fenced code block" in quoted(out)[0]


@pytest.mark.parametrize("indent", ["    ", "        ", "\t", "  \t  "])
@pytest.mark.parametrize("fence", ["```", "~~~~"])
def test_fence_with_any_indentation_is_code(parse: Parse, indent: str, fence: str) -> None:
    document = f"2. Then run:\n\n{indent}{fence}bash\n{indent}{SHOW}\n{indent}{fence}\n\n{RUN}\n"
    out = parse(document)
    assert run_names(out) == ["r"]
    assert len(quoted(out)) == 1


def test_closing_fence_may_be_indented_differently(parse: Parse) -> None:
    out = parse(f"```\n{SHOW}\n      ```\n{RUN}")
    assert run_names(out) == ["r"]


def test_closing_fence_needs_the_same_character_and_length(parse: Parse) -> None:
    out = parse(f"````\n  ```\n  ~~~~\n{SHOW}\n ````\n{RUN}")
    assert run_names(out) == ["r"]
    assert len(quoted(out)) == 1


def test_fence_opening_line_is_quoted_as_a_span_under_quote_inline_code(parse: Parse) -> None:
    config = ParserConfig(markdown=MarkdownPolicy.QUOTE_INLINE_CODE)
    out = parse(f"```{SHOW}\n{RUN}\n```\n", config)
    assert run_names(out) == ["r"]  # the fence body runs under this policy
    assert len(quoted(out)) == 1


def test_inline_span_line_runs_next_lines_under_quote_inline_code(parse: Parse) -> None:
    config = ParserConfig(markdown=MarkdownPolicy.QUOTE_INLINE_CODE)
    out = parse(f"```{SHOW}```\n{RUN}\n", config)
    assert run_names(out) == ["r"]
