"""One test (or a few) per rule of issue 2, and the peer-tool failures 1-6 of REFERENCE.md.

Every document is parsed whole, byte by byte and at every single split (``parse`` fixture).
"""

from __future__ import annotations

from collections.abc import Sequence

from sa3p_parser import (
    DEFAULT_COMMAND_TAGS,
    DEFAULT_RAW_TAGS,
    EndTag,
    Instruction,
    InstructionParser,
    MarkdownPolicy,
    ParseProblem,
    ParserConfig,
    Position,
    ProblemKind,
    RawChunk,
    StartTag,
    Text,
    WriteChunk,
    coalesce,
)
from sa3p_parser.testing import feed_in_chunks

from .helpers import Parse


def kinds(instructions: Sequence[Instruction]) -> list[ProblemKind]:
    return [item.kind for item in instructions if isinstance(item, ParseProblem)]


def without_problems(instructions: Sequence[Instruction]) -> list[Instruction]:
    return coalesce([item for item in instructions if not isinstance(item, ParseProblem)])


# -- rule 1: command tags, raw bodies ------------------------------------------------------------


def test_rule1_command_tags_and_raw_bodies(parse: Parse) -> None:
    out = parse(
        '<list_files path="."/><terminal_signal pid="7" signal="TERM"/>'
        "<terminal>a < b && echo '&amp;' </terminal>"
    )
    assert out == [
        StartTag("list_files", {"path": "."}),
        EndTag("list_files"),
        StartTag("terminal_signal", {"pid": "7", "signal": "TERM"}),
        EndTag("terminal_signal"),
        StartTag("terminal"),
        RawChunk("terminal", b"a < b && echo '&amp;' "),
        EndTag("terminal"),
    ]


def test_rule1_apply_edit_carries_search_replace_markers_and_diffs(parse: Parse) -> None:
    body = (
        "\n<<<<<<< SEARCH\nold <b>\n=======\nnew &amp;\n>>>>>>> REPLACE\n"
        "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-<div>\n+<span>\n"
    )
    out = parse(
        f'<apply_edit path="x">{body}<search>\na<b</search>\n<replace>\nc&d</replace>'
        "<![CDATA[\n-</apply_edit>\n]]></apply_edit>"
    )
    assert out == [
        StartTag("apply_edit", {"path": "x"}),
        Text(body),
        StartTag("search"),
        RawChunk("search", b"a<b"),
        EndTag("search"),
        Text("\n"),
        StartTag("replace"),
        RawChunk("replace", b"c&d"),
        EndTag("replace"),
        Text("\n-</apply_edit>\n"),
        EndTag("apply_edit"),
    ]


def test_rule1_apply_patch_body_is_opaque_bytes(parse: Parse) -> None:
    body = (
        "*** Begin Patch\n*** Update File: src/a.py\n@@ def f():\n"
        "-    <terminal>rm -rf /</terminal>\n+    return a < b &amp; c  # é\n"
        "+</apply_patc\n*** End Patch\n"
    )
    out = parse(f"<apply_patch>\n{body}</apply_patch>")
    assert out == [
        StartTag("apply_patch"),
        RawChunk("apply_patch", body.encode()),
        EndTag("apply_patch"),
    ]
    assert "apply_patch" in DEFAULT_COMMAND_TAGS and "apply_patch" in DEFAULT_RAW_TAGS


def test_rule1_command_set_is_configurable(parse: Parse) -> None:
    config = ParserConfig(command_tags=frozenset({"note"}), raw_tags=frozenset({"note"}))
    out = parse('<note>x <read_file path="a"/></note><read_file path="a"/>', config)
    assert out == [
        StartTag("note"),
        RawChunk("note", b'x <read_file path="a"/>'),
        EndTag("note"),
        Text('<read_file path="a"/>'),
    ]


# -- rule 2: everything else is text ----------------------------------------------------------


def test_rule2_unknown_tags_are_text_byte_for_byte(parse: Parse) -> None:
    prose = "<div class='x'>a < b</div> </p> <br/> <search>x</search> <!-- c --> <?xml?> &amp; <3"
    assert parse(prose) == [Text(prose)]


# -- rule 3: chunk boundaries carry no meaning ------------------------------------------------


def test_rule3_splits_inside_names_attributes_close_tags_cdata_and_utf8(parse: Parse) -> None:
    document = (
        '<write_file path="d/é.txt">\n<![CDATA[</write_file>é]]>\n</write_file>'
        '<read_file path="日本"/>😀<write_file path="x">ab</wri</write_file>'
    )
    assert parse(document) == [
        StartTag("write_file", {"path": "d/é.txt"}),
        WriteChunk("</write_file>é".encode()),
        EndTag("write_file"),
        StartTag("read_file", {"path": "日本"}),
        EndTag("read_file"),
        Text("😀"),
        StartTag("write_file", {"path": "x"}),
        WriteChunk(b"ab</wri"),
        EndTag("write_file"),
    ]


# -- rule 4: raw bodies stream ----------------------------------------------------------------


def test_rule4_raw_body_streams_holding_back_only_a_close_tag_prefix() -> None:
    parser = InstructionParser()
    assert parser.feed('<write_file path="big">\n') == [StartTag("write_file", {"path": "big"})]
    for _ in range(100):
        assert parser.feed(b"x" * 10_000) == [WriteChunk(b"x" * 10_000)]
        assert parser.buffered_len == 0
    assert parser.feed(b"tail</write") == [WriteChunk(b"tail")]
    assert parser.buffered_len == len(b"</write")
    assert parser.feed(b"_fil") == []
    assert parser.feed(b"e>") == [EndTag("write_file")]
    assert parser.buffered_len == 0


# -- rule 5: byte-exact bodies ----------------------------------------------------------------


def test_rule5_one_leading_newline_dropped_nothing_else(parse: Parse) -> None:
    body = b"\r\n\n  \tindented\r\n&amp;&lt;\n\n  "
    for lead in (b"\n", b"\r\n"):
        out = parse(b'<write_file path="a">' + lead + body + b"</write_file>")
        assert out[1] == WriteChunk(body)
    assert parse(b'<write_file path="a">  x</write_file>')[1] == WriteChunk(b"  x")


def test_rule5_close_tag_may_have_whitespace_before_gt(parse: Parse) -> None:
    out = parse(b'<write_file path="a">x</write_file \n></write_file>')
    assert kinds(out) == [ProblemKind.UNEXPECTED_CLOSE]
    assert without_problems(out) == [
        StartTag("write_file", {"path": "a"}),
        WriteChunk(b"x"),
        EndTag("write_file"),
        Text("</write_file>"),
    ]


# -- rule 6: CDATA unwrapping -----------------------------------------------------------------


def test_rule6_cdata_body_is_unwrapped_and_may_contain_its_close_tag(parse: Parse) -> None:
    inner = b"<?xml?>\n<write_file>x</write_file>\n]]> not the end\n"
    for after in (b"", b"\n", b"\r\n"):
        out = parse(b'<write_file path="a">\n<![CDATA[' + inner + b"]]>" + after + b"</write_file>")
        assert out == [
            StartTag("write_file", {"path": "a"}),
            WriteChunk(inner),
            EndTag("write_file"),
        ]


def test_rule6_cdata_only_counts_at_body_start(parse: Parse) -> None:
    out = parse(b"<terminal>echo <![CDATA[x]]></terminal>")
    assert out[1] == RawChunk("terminal", b"echo <![CDATA[x]]>")


# -- rule 7: attributes -----------------------------------------------------------------------


def test_rule7_attribute_syntax_and_entities(parse: Parse) -> None:
    out = parse(
        "<read_file path = 'a &amp; b &lt;&gt;&quot;&apos; &#10;&#x1F600; &nope; &#0;'\n"
        '  start_line="3"/>'
    )
    assert out[0] == StartTag(
        "read_file", {"path": "a & b <>\"' \n😀 &nope; &#0;", "start_line": "3"}
    )
    assert out[1] == EndTag("read_file")


def test_rule7_invalid_utf8_in_a_value_becomes_u_fffd(parse: Parse) -> None:
    out = parse(b"x \xff <read_file path=\"a\xffb\xe2\x82\" mode='\xc3'/>")
    start = next(item for item in out if isinstance(item, StartTag))
    assert start == StartTag("read_file", {"path": "a\ufffdb\ufffd", "mode": "\ufffd"})
    assert kinds(out) == [ProblemKind.INVALID_UTF8]  # only the text's byte is reported


def test_rule7_self_closing_and_explicit_close_are_the_same(parse: Parse) -> None:
    assert parse('<read_file path="x"/>') == parse('<read_file path="x"></read_file>')
    assert parse('<write_file path="x"/>') == [
        StartTag("write_file", {"path": "x"}),
        EndTag("write_file"),
    ]


def test_rule7_start_tag_carries_its_position() -> None:
    out = InstructionParser().feed("ab\ncdé <read_file path='x'/>")
    assert out[1] == StartTag("read_file", {"path": "x"})
    assert isinstance(out[1], StartTag)
    assert out[1].position == Position(line=2, column=5, offset=8)


def test_rule9_problem_positions_count_lines_through_bodies_and_characters(parse: Parse) -> None:
    out = parse('<write_file path="a">\né\né</write_file>\n  </terminal>')
    problem = out[-2]
    assert isinstance(problem, ParseProblem)
    assert problem.position == Position(line=4, column=3, offset=43)
    assert "</terminal>" in problem.message


# -- rule 8: markdown -------------------------------------------------------------------------

QUOTING = (
    'Run `<read_file path="a"/>` later.\n'
    "```xml\n<terminal>rm -rf /</terminal>\n```\n"
    '~~~~\n```\n<read_file path="b"/>\n~~~~\n'
    '<read_file path="c"/>'
)


def test_rule8_default_quotes_commands_in_inline_code_and_fences(parse: Parse) -> None:
    out = parse(QUOTING)
    assert kinds(out) == [ProblemKind.QUOTED_COMMAND] * 3
    assert [p.tag for p in out if isinstance(p, ParseProblem)] == [
        "read_file",
        "terminal",
        "read_file",
    ]
    assert without_problems(out) == [
        Text(QUOTING[: QUOTING.index('<read_file path="c"')]),
        StartTag("read_file", {"path": "c"}),
        EndTag("read_file"),
    ]


def test_rule8_inline_span_ends_at_end_of_line_and_fence_needs_line_start(parse: Parse) -> None:
    out = parse('an ` unclosed span\n<read_file path="a"/> x ```<read_file path="b"/>')
    assert [i.name for i in out if isinstance(i, StartTag)] == ["read_file"]
    assert kinds(out) == [ProblemKind.QUOTED_COMMAND]


def test_rule8_fences_live_policy(parse: Parse) -> None:
    config = ParserConfig(markdown=MarkdownPolicy.QUOTE_INLINE_CODE)
    out = parse(QUOTING, config)
    assert [i.name for i in out if isinstance(i, StartTag)] == [
        "terminal",
        "read_file",
        "read_file",
    ]
    assert kinds(out) == [ProblemKind.QUOTED_COMMAND]


def test_rule8_markdown_agnostic_policy(parse: Parse) -> None:
    out = parse(QUOTING, ParserConfig(markdown=MarkdownPolicy.IGNORE))
    assert len([i for i in out if isinstance(i, StartTag)]) == 4
    assert kinds(out) == []


def test_rule8_markdown_is_not_tracked_inside_bodies(parse: Parse) -> None:
    out = parse('<write_file path="a.md">\n```\n</write_file><read_file path="b"/>')
    assert kinds(out) == []
    assert out[-2] == StartTag("read_file", {"path": "b"})


# -- rule 9: in-band problems, recovery -------------------------------------------------------


def test_rule9_malformed_attributes_are_reported_and_not_run(parse: Parse) -> None:
    out = parse('<read_file path=x/><read_file path="a" path="b"/><read_file path="ok"/>')
    assert kinds(out) == [ProblemKind.MALFORMED_TAG, ProblemKind.MALFORMED_TAG]
    assert [i for i in out if isinstance(i, StartTag)] == [StartTag("read_file", {"path": "ok"})]
    problem = out[0]
    assert isinstance(problem, ParseProblem)
    assert "read_file" in problem.message and "unquoted" in problem.message
    assert problem.position == Position(1, 1, 0)


def test_rule9_malformed_raw_command_body_is_text_and_never_runs(parse: Parse) -> None:
    out = parse(
        "<write_file path=x>\n<terminal>rm -rf /</terminal></write_file><terminal>ls</terminal>"
    )
    assert kinds(out) == [ProblemKind.MALFORMED_TAG]
    assert [i.name for i in out if isinstance(i, StartTag)] == ["terminal"]
    assert out[1] == Text("<write_file path=x>\n<terminal>rm -rf /</terminal></write_file>")


def test_rule9_unterminated_tag_is_bounded(parse: Parse) -> None:
    config = ParserConfig(max_tag_length=64)
    out = parse('<read_file path="' + "a" * 100 + '"/><read_file path="b"/>', config)
    assert kinds(out) == [ProblemKind.UNTERMINATED_TAG]
    assert out[-2] == StartTag("read_file", {"path": "b"})


def test_rule9_tag_broken_by_another_tag_recovers(parse: Parse) -> None:
    out = parse('<read_file path="a.txt>\n<read_file path="b.txt"/>')
    assert kinds(out) == [ProblemKind.MALFORMED_TAG]
    assert out[-2] == StartTag("read_file", {"path": "b.txt"})


def test_rule9_unclosed_command_at_finish_gets_no_end_tag(parse: Parse) -> None:
    for document in (
        '<read_file path="a">',
        "<apply_edit path='a'><search>x",
        '<write_file path="a">\npart',
    ):
        out = parse(document)
        assert not [i for i in out if isinstance(i, EndTag)]
        assert ProblemKind.UNCLOSED_COMMAND in kinds(out)
    problems = [p for p in parse("<apply_edit path='a'><search>x") if isinstance(p, ParseProblem)]
    assert [p.tag for p in problems] == ["search", "apply_edit"]


def test_rule9_nested_command_abandons_the_open_non_raw_command(parse: Parse) -> None:
    out = parse('<read_file path="a">\n<terminal>ls</terminal>')
    assert out == [
        StartTag("read_file", {"path": "a"}),
        Text("\n"),
        ParseProblem(
            kind=ProblemKind.NESTED_COMMAND,
            message=out[2].message if isinstance(out[2], ParseProblem) else "",
            position=Position(2, 1, 21),
            tag="terminal",
        ),
        EndTag("read_file"),
        StartTag("terminal"),
        RawChunk("terminal", b"ls"),
        EndTag("terminal"),
    ]


def test_rule9_unexpected_and_mismatched_close_tags_are_text(parse: Parse) -> None:
    out = parse('</write_file><read_file path="a"></terminal></read_file>')
    assert kinds(out) == [ProblemKind.UNEXPECTED_CLOSE, ProblemKind.UNEXPECTED_CLOSE]
    assert without_problems(out) == [
        Text("</write_file>"),
        StartTag("read_file", {"path": "a"}),
        Text("</terminal>"),
        EndTag("read_file"),
    ]


def test_rule9_invalid_utf8_is_replaced_and_reported_once_per_run(parse: Parse) -> None:
    out = parse(b"ok \xff\xfe\xc3 then \xe2\x82<terminal>\xff</terminal>")
    assert kinds(out) == [ProblemKind.INVALID_UTF8, ProblemKind.INVALID_UTF8]
    assert without_problems(out)[0] == Text("ok \ufffd\ufffd\ufffd then \ufffd")
    assert out[-2] == RawChunk("terminal", b"\xff")


# -- rule 10: bounded memory ------------------------------------------------------------------


def test_rule10_buffer_stays_bounded_for_any_long_input() -> None:
    config = ParserConfig(max_tag_length=256)
    for filler in (b"<read_file " + b"a" * 10, b"x" * 1000, b"<write_file path='a'>\n" + b"]" * 50):
        parser = InstructionParser(config)
        for _ in range(300):
            parser.feed(filler)
            assert parser.buffered_len <= 256
        parser.finish()


# -- rule 11: the testing module --------------------------------------------------------------


def test_rule11_testing_strategies_are_importable_and_consistent() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from sa3p_parser.testing import Script, chunkings, same_instructions, scripts

    @settings(max_examples=20, deadline=None)
    @given(script=scripts(), data=st.data())
    def check(script: Script, data: st.DataObject) -> None:
        chunks = data.draw(chunkings(script.data))
        assert same_instructions(feed_in_chunks(InstructionParser(), chunks), script.expected)

    check()


# -- REFERENCE.md peer failures 1-6 -----------------------------------------------------------


def test_peer1_body_containing_its_own_close_tag_via_cdata(parse: Parse) -> None:
    out = parse(b'<write_file path="t.xml">\n<![CDATA[<a></write_file></a>]]></write_file>')
    assert out[1] == WriteChunk(b"<a></write_file></a>")


def test_peer2_close_tag_or_angle_split_across_chunks() -> None:
    parser = InstructionParser()
    out = (
        parser.feed('<write_file path="a">x</wri') + parser.feed("te_file>a <") + parser.feed(" b")
    )
    out += parser.finish()
    assert coalesce(out) == [
        StartTag("write_file", {"path": "a"}),
        WriteChunk(b"x"),
        EndTag("write_file"),
        Text("a < b"),
    ]


def test_peer3_entities_not_decoded_in_file_content(parse: Parse) -> None:
    body = b"<p>&amp; &lt; &#10; &nbsp;</p>"
    assert parse(b'<write_file path="i.html">' + body + b"</write_file>")[1] == WriteChunk(body)


def test_peer4_commands_in_markdown_code_are_not_run(parse: Parse) -> None:
    out = parse("```\n<terminal>rm -rf ~</terminal>\n```\n")
    assert not [i for i in out if isinstance(i, StartTag)]
    assert kinds(out) == [ProblemKind.QUOTED_COMMAND]


def test_peer5_unknown_tags_pass_through(parse: Parse) -> None:
    assert parse("<div>\n<custom-tag a=1>x</custom-tag>") == [
        Text("<div>\n<custom-tag a=1>x</custom-tag>")
    ]


def test_peer6_truncated_write_file_is_not_complete(parse: Parse) -> None:
    out = parse('<write_file path="a">\nhalf a fi')
    assert out[:2] == [StartTag("write_file", {"path": "a"}), WriteChunk(b"half a fi")]
    assert kinds(out) == [ProblemKind.UNCLOSED_COMMAND]
    assert EndTag("write_file") not in out
