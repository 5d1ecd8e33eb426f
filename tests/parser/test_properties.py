"""Property tests: chunk invariance, the expected-instructions model, fuzzing, lxml differential."""

from __future__ import annotations

import os
from html import unescape
from xml.sax.saxutils import escape, quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from sa3p_parser import (
    EndTag,
    Instruction,
    InstructionParser,
    MarkdownPolicy,
    ParseProblem,
    ParserConfig,
    RawChunk,
    StartTag,
    StreamingParser,
    Text,
    WriteChunk,
    coalesce,
)
from sa3p_parser.testing import Script, chunkings, feed_in_chunks, same_instructions, scripts

# SA3P_PARSER_EXAMPLES=5000 pytest tests/parser for a deeper run; the default keeps it fast.
SETTINGS = settings(
    max_examples=int(os.environ.get("SA3P_PARSER_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

_TOKENS = [
    b"<",
    b">",
    b"/",
    b"</",
    b"/>",
    b"=",
    b'"',
    b"'",
    b"&",
    b"&amp;",
    b"\n",
    b"\r\n",
    b" ",
    b"`",
    b"```",
    b"~~~",
    b"write_file",
    b"read_file",
    b"apply_edit",
    b"terminal",
    b"search",
    b"replace",
    b" path=",
    b"<write_file path='a'>",
    b"</write_file>",
    b"<terminal>",
    b"</terminal>",
    b"<apply_edit path='x'>",
    b"</apply_edit>",
    b"<search>",
    b"</search>",
    b"<![CDATA[",
    b"]]>",
    b"]]",
    b"\xc3",
    b"\xa9",
    b"\xff",
    b"\xf0\x9f",
    b"\x98\x80",
    b"x",
]


@st.composite
def noisy_bytes(draw: st.DrawFn) -> bytes:
    pieces = st.one_of(st.sampled_from(_TOKENS), st.binary(max_size=6))
    return b"".join(draw(st.lists(pieces, max_size=60)))


@SETTINGS
@given(script=scripts(), data=st.data())
def test_generated_documents_give_the_modelled_instructions_under_any_chunking(
    script: Script, data: st.DataObject
) -> None:
    chunks = data.draw(chunkings(script.data))
    assert same_instructions(feed_in_chunks(InstructionParser(), chunks), script.expected)


@SETTINGS
@given(document=noisy_bytes(), data=st.data(), policy=st.sampled_from(list(MarkdownPolicy)))
def test_fuzz_any_bytes_any_chunks_only_instructions_and_chunk_invariance(
    document: bytes, data: st.DataObject, policy: MarkdownPolicy
) -> None:
    config = ParserConfig(markdown=policy, max_tag_length=64)
    whole = coalesce(feed_in_chunks(InstructionParser(config), [document]))
    parser = InstructionParser(config)
    out: list[Instruction] = []
    for chunk in data.draw(chunkings(document)):
        out += parser.feed(chunk)
        assert parser.buffered_len <= 64 + 32  # the tag bound plus a close-tag marker
    out += parser.finish()
    assert all(
        isinstance(i, Text | StartTag | EndTag | WriteChunk | RawChunk | ParseProblem) for i in out
    )
    assert coalesce(out) == whole  # problems equal too: same message and position


@SETTINGS
@given(document=noisy_bytes())
def test_fuzz_text_loses_nothing_outside_commands(document: bytes) -> None:
    """With no command tags configured, the whole stream comes back as text."""
    config = ParserConfig(
        command_tags=frozenset({"nothing_here"}), raw_tags=frozenset(), child_tags={}
    )
    out = coalesce(feed_in_chunks(StreamingParser(config), [document]))
    text = "".join(i.text for i in out if isinstance(i, Text))
    assert text == document.decode("utf-8", "replace")


# -- differential test against lxml -------------------------------------------------------

_XML_TEXT = st.text(st.sampled_from([*"abc é日\n\t>", "&", "<", '"']), max_size=12).map(escape)
_BODY = st.text(st.sampled_from([*"xyz é\t>;=\n"]), max_size=15).filter(
    lambda body: not body.startswith("\n")
)
_VALUE = st.text(st.sampled_from(list("ab/. é<>&\"'\t")), max_size=8)


@st.composite
def xml_command(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["read_file", "write_file", "terminal", "list_files"]))
    attributes = {"path": draw(_VALUE)} if kind != "terminal" else {}
    if draw(st.booleans()):
        attributes["extra"] = draw(_VALUE)
    rendered = "".join(f" {key}={quoteattr(value)}" for key, value in attributes.items())
    if kind in ("write_file", "terminal"):
        return f"<{kind}{rendered}>{draw(_BODY)}</{kind}>"
    return f"<{kind}{rendered}/>"


@st.composite
def xml_document(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.one_of(_XML_TEXT, xml_command()), max_size=8))
    return ("<root>" + "".join(parts) + "</root>").encode()


def _via_lxml(document: bytes) -> tuple[list[tuple[str, dict[str, str], str]], str]:
    root = etree.fromstring(document)
    commands = [(child.tag, dict(child.attrib), child.text or "") for child in root]
    text = (root.text or "") + "".join(child.tail or "" for child in root)
    return commands, text


def _via_sa3p(document: bytes) -> tuple[list[tuple[str, dict[str, str], str]], str]:
    out = coalesce(feed_in_chunks(InstructionParser(), [document]))
    commands: list[tuple[str, dict[str, str], str]] = []
    text = ""
    for item in out:
        match item:
            case StartTag(name=name, attributes=attributes):
                commands.append((name, dict(attributes), ""))
            case WriteChunk(data=data) | RawChunk(data=data):
                name, attributes, _ = commands[-1]
                commands[-1] = (name, attributes, data.decode())
            case Text(text=piece):
                text += piece
    return commands, unescape(text.removeprefix("<root>").removesuffix("</root>"))


@SETTINGS
@given(document=xml_document())
def test_differential_against_lxml_on_well_formed_xml(document: bytes) -> None:
    assert _via_sa3p(document) == _via_lxml(document)


# -- markdown decisions against a line-based reference ----------------------------------------

_TAG = '<read_file path="x"/>'
_MARKDOWN_PIECES = ["`", "``", "```", "````", "~~~", "~", " ", "    ", "\t", "\n", "a", _TAG]


def _reference_quoted(document: str) -> list[bool]:
    """For each command in ``document``, whether the documented markdown rules quote it."""
    verdicts: list[bool] = []
    fence_char, fence_length = "", 0
    for line in document.split("\n"):
        rest = line.lstrip(" \t")
        run_char = rest[:1] if rest[:1] in ("`", "~") else ""
        run = len(rest) - len(rest.lstrip(run_char)) if run_char else 0
        if fence_char:
            verdicts += [True] * line.count(_TAG)
            if run_char == fence_char and run >= max(3, fence_length) and not rest[run:].strip():
                fence_char, fence_length = "", 0
        elif run >= 3 and run_char == "~":
            fence_char, fence_length = run_char, run
            verdicts += [True] * line.count(_TAG)
        else:  # a line-start run of 3+ backticks: a fence only if no backtick follows on its line
            if run >= 3 and "`" not in rest[run:]:
                fence_char, fence_length = run_char, run
            verdicts += _inline_verdicts(line)
    return verdicts


def _inline_verdicts(line: str) -> list[bool]:
    verdicts: list[bool] = []
    span, index = 0, 0
    while index < len(line):
        if line.startswith(_TAG, index):
            verdicts.append(span != 0)
            index += len(_TAG)
        elif line[index] == "`":
            run = len(line[index:]) - len(line[index:].lstrip("`"))
            span = run if span == 0 else (0 if span == run else span)
            index += run
        else:
            index += 1
    return verdicts


@SETTINGS
@given(pieces=st.lists(st.sampled_from(_MARKDOWN_PIECES), max_size=40), data=st.data())
def test_markdown_quoting_matches_the_documented_rules(
    pieces: list[str], data: st.DataObject
) -> None:
    document = "".join(pieces).encode()
    out = feed_in_chunks(InstructionParser(), data.draw(chunkings(document)))
    actual = [
        isinstance(item, ParseProblem)
        for item in out
        if isinstance(item, StartTag) or (isinstance(item, ParseProblem) and item.tag)
    ]
    assert actual == _reference_quoted(document.decode())
