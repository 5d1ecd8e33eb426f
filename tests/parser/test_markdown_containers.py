"""Fences and inline code inside CommonMark containers: block quotes and list items.

A command quoted in a fenced block that lives in a block quote (``> ````) or a list item must be
reported as ``QUOTED_COMMAND`` like one in a top-level fence, and a fence ends when its container
ends. Every explicit case is parsed whole, byte by byte and at every single split (``parse``);
random documents are checked at random splits, and against CommonMark itself: a corpus of
documents whose verdicts markdown-it-py (a CommonMark implementation) gave, stored in
``commonmark_containers.json`` (made by ``_commonmark_verdicts`` over ``_documents``), and live
when markdown-it-py is installed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sa3p_parser import (
    Instruction,
    InstructionParser,
    MarkdownPolicy,
    ParseProblem,
    ParserConfig,
    ProblemKind,
    StartTag,
)
from sa3p_parser.testing import chunkings, feed_in_chunks

from .helpers import Parse
from .test_properties import SETTINGS

RUN = "<terminal>touch ran</terminal>"
TAG = '<read_file path="x"/>'
CORPUS = Path(__file__).with_name("commonmark_containers.json")


def ran(out: Sequence[Instruction]) -> list[str]:
    return [item.name for item in out if isinstance(item, StartTag)]


def quoted(out: Sequence[Instruction]) -> list[str]:
    return [
        item.message
        for item in out
        if isinstance(item, ParseProblem) and item.kind is ProblemKind.QUOTED_COMMAND
    ]


@pytest.mark.parametrize(
    "document",
    [
        f"> ```\n> {RUN}\n> ```\n",  # the reported bug: touch ran
        f"> ~~~sh\n> {RUN}\n> ~~~\n",
        f"> > ```\n> > {RUN}\n> > ```\n",  # nested block quotes
        f">```\n>{RUN}\n>```\n",  # no space after '>'
        f"   > ```\n   > {RUN}\n",  # up to 3 spaces before '>'
        f"- ```\n  {RUN}\n  ```\n",
        f"* ```\n  {RUN}\n  ```\n",
        f"+ ```\n  {RUN}\n  ```\n",
        f"1. ```\n   {RUN}\n   ```\n",
        f"1) ```\n   {RUN}\n   ```\n",
        f"10. ~~~\n    {RUN}\n",
        f"- ```\n\n  {RUN}\n  ```\n",  # a blank line stays in the list item
        f"1. Run:\n\n   ```bash\n   {RUN}\n   ```\n",  # the fence is in the item's content
        f"- item\n\n      ```\n      {RUN}\n",  # deeper than the content: still the item's
        f"> - ```\n>   {RUN}\n",  # a list item in a block quote
        f"- > ```\n  > {RUN}\n",  # a block quote in a list item
        f"> `{RUN}`\n",  # an inline span in a block quote
        f"- `{RUN}`\n",
        f"> para\nlazy\n> ```\n> {RUN}\n",  # a lazy line keeps the quote; the fence is in it
        f"-\n\n  ```\n{RUN}\n",  # an item begins with at most one blank line: a top fence
    ],
)
def test_commands_in_fences_inside_containers_are_quoted(parse: Parse, document: str) -> None:
    out = parse(document)
    assert ran(out) == []
    assert len(quoted(out)) == 1


@pytest.mark.parametrize(
    "document",
    [
        f"> ```\n> x\n{RUN}\n",  # the quote ended, so did its fence (no lazy fence lines)
        f"> ```\n\n{RUN}\n",  # a blank line ends the block quote
        f"> > ```\n> {RUN}\n",  # the inner quote ended
        f"- ```\n  x\n{RUN}\n",  # indented less than the item's content: the item ended
        f"1. ```\n  {RUN}\n",  # 2 < 3 columns of content indentation
        f"> - ```\n> {RUN}\n",  # the quote goes on, the list item ended
        f"Intro\n2. ```\n{RUN}\n",  # an ordered list from 2 cannot interrupt a paragraph
        f"Intro\n-\n```\n```\n{RUN}\n",  # an empty item cannot interrupt a paragraph
        f"- - -\n  ```\n{RUN}\n```\n{RUN}\n",  # '- - -' is a thematic break, not lists
    ],
)
def test_commands_after_a_container_ends_run(parse: Parse, document: str) -> None:
    out = parse(document)
    assert ran(out) == ["terminal"]  # the last command; one before it is in a top-level fence
    assert len(quoted(out)) == document.count(RUN) - 1


def test_a_fence_ended_by_its_container_does_not_swallow_the_next_fence(parse: Parse) -> None:
    out = parse(f"> ```\n```\n{RUN}\n```\n{RUN}\n")
    assert ran(out) == ["terminal"]  # line 2 opens a new top-level fence around the first
    assert len(quoted(out)) == 1


def test_closing_fence_needs_only_whitespace_after_it(parse: Parse) -> None:
    out = parse(f"```\n``` not a close\n{RUN}\n```  \n{RUN}\n")
    assert ran(out) == ["terminal"]
    assert len(quoted(out)) == 1


def test_quote_inline_code_policy_runs_container_fences(parse: Parse) -> None:
    config = ParserConfig(markdown=MarkdownPolicy.QUOTE_INLINE_CODE)
    out = parse(f"> ```\n> {RUN}\n> ```\n> `{RUN}`\n", config)
    assert ran(out) == ["terminal"]
    assert len(quoted(out)) == 1


def _verdicts(out: Sequence[Instruction]) -> list[bool]:
    """For each read_file tag, whether it was quoted (``True``) or ran."""
    return [
        isinstance(item, ParseProblem)
        for item in out
        if isinstance(item, StartTag) or (isinstance(item, ParseProblem) and item.tag)
    ]


def _corpus() -> list[tuple[str, list[bool]]]:
    return [(document, verdicts) for document, verdicts in json.loads(CORPUS.read_text())]


def test_commonmark_corpus_whole() -> None:
    for document, expected in _corpus():
        out = feed_in_chunks(InstructionParser(), [document.encode()])
        assert _verdicts(out) == expected, document


@SETTINGS
@given(data=st.data())
def test_commonmark_corpus_at_random_splits(data: st.DataObject) -> None:
    document, expected = data.draw(st.sampled_from(_corpus()))
    chunks = data.draw(chunkings(document.encode()))
    assert _verdicts(feed_in_chunks(InstructionParser(), chunks)) == expected


# -- live against CommonMark (markdown-it-py), when it is installed ----------------------------

_MARKERS = ["> ", ">", "> > ", "- ", "* ", "+ ", "1. ", "1) ", "2. ", "10. ", "-", "> - ", "- > "]
_INDENTS = ["", " ", "  ", "   "]
_CONTENT = ["```", "~~~", "````", "```py", "~~~ x", f"x {TAG}", "text", "", "- - -", "# head"]


@st.composite
def _documents(draw: st.DrawFn) -> str:
    """Lines of container markers and fences with commands in them; no 4-space indentation
    (indented code) and no line that starts with a tag (an HTML block), which are not tracked.
    """
    lines = draw(
        st.lists(
            st.tuples(
                st.sampled_from(_INDENTS),
                st.sampled_from(["", *_MARKERS]),
                st.sampled_from(_CONTENT),
            ).map("".join),
            min_size=1,
            max_size=8,
        )
    )
    return "\n".join(lines) + "\n"


def _commonmark_verdicts(document: str) -> list[bool] | None:
    """CommonMark's verdict for each tag, or ``None`` if the document holds an HTML block."""
    from markdown_it import MarkdownIt

    code_lines: set[int] = set()
    for token in MarkdownIt("commonmark").parse(document):
        if token.type == "html_block":
            return None
        if token.type in ("fence", "code_block") and token.map:
            start, end = token.map
            code_lines.update(range(start + 1 if token.type == "fence" else start, end))
    lines = document.split("\n")
    return [
        number in code_lines for number, line in enumerate(lines) for _ in range(line.count(TAG))
    ]


@SETTINGS
@given(document=_documents(), data=st.data())
def test_container_fences_agree_with_commonmark(document: str, data: st.DataObject) -> None:
    pytest.importorskip("markdown_it")
    expected = _commonmark_verdicts(document)
    if expected is None or "    " in document:
        return
    chunks = data.draw(chunkings(document.encode()))
    assert _verdicts(feed_in_chunks(InstructionParser(), chunks)) == expected
