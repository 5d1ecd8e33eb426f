"""Hypothesis properties: unique exact edits equal str.replace; chunking never matters."""

from __future__ import annotations

import itertools
from typing import AnyStr

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sa3p_engine import ApplyEditOutput, EditTier
from sa3p_engine._edit_tiers import file_line_ending
from sa3p_parser import Instruction, RawChunk, Text, WriteChunk

from .engine_helpers import command, edit, make_engine

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(alphabet=st.sampled_from("ab \n\t$\\&<>é\r{}"), max_size=40)


def _endings_match(content: str, replace: str) -> bool:
    """Whether ``replace``'s line endings already are the file's (see ``file_line_ending``)."""
    ending = file_line_ending(content)
    if ending == "\r\n":
        return replace.count("\n") == replace.count("\r\n")
    return ending is None or "\r\n" not in replace


@SETTINGS
@given(prefix=TEXT, search=TEXT, suffix=TEXT, replace=TEXT)
def test_unique_exact_match_equals_str_replace(
    prefix: str, search: str, suffix: str, replace: str
) -> None:
    content = prefix + search + suffix
    assume(search.strip() and search != replace and content.count(search) == 1)
    assume(content.find(search, content.find(search) + 1) < 0)  # no overlapping second match
    assume(_endings_match(content, replace))  # else the replacement takes the file's endings
    engine, vfs, _ = make_engine({"f.txt": content.encode()})
    [output] = engine.execute_turn(edit("f.txt", (search, replace))).outputs
    assert isinstance(output, ApplyEditOutput), output.render()
    assert output.edits[0].tier is EditTier.EXACT
    assert vfs.read("f.txt") == content.replace(search, replace, 1).encode()


LINE = st.text(alphabet=st.sampled_from("ab \t$\\&<>é{}"), max_size=12)
LINES = st.lists(LINE, min_size=1, max_size=6)


@SETTINGS
@given(before=LINES, target=LINE, after=LINES, replacement=LINES, file_crlf=st.booleans())
def test_replacement_takes_the_line_ending_of_a_uniform_file(
    before: list[str], target: str, after: list[str], replacement: list[str], file_crlf: bool
) -> None:
    file_eol, reply_eol = ("\r\n", "\n") if file_crlf else ("\n", "\r\n")
    search = f"<{target}>"  # unique: the other lines hold no "<" … ">" pair with this text
    assume(all(search not in line for line in before + after))
    content = file_eol.join([*before, search, *after]) + file_eol
    replace = reply_eol.join(replacement)
    assume(search != replace)
    engine, vfs, _ = make_engine({"f.txt": content.encode()})
    [output] = engine.execute_turn(edit("f.txt", (search, replace))).outputs
    assert isinstance(output, ApplyEditOutput), output.render()
    assert output.edits[0].tier is EditTier.EXACT
    expected = content.replace(search, file_eol.join(replacement), 1)
    assert vfs.read("f.txt") == expected.encode()
    assert file_line_ending(expected) == file_eol


@SETTINGS
@given(prefix=TEXT, search=TEXT, suffix=TEXT, replace=TEXT)
def test_a_mixed_file_gets_the_replacement_as_written(
    prefix: str, search: str, suffix: str, replace: str
) -> None:
    content = "x\r\ny\n" + prefix + search + suffix
    assume(search.strip() and search != replace and content.count(search) == 1)
    assume(content.find(search, content.find(search) + 1) < 0)
    engine, vfs, _ = make_engine({"f.txt": content.encode()})
    [output] = engine.execute_turn(edit("f.txt", (search, replace))).outputs
    assert isinstance(output, ApplyEditOutput), output.render()
    assert output.edits[0].tier is EditTier.EXACT
    assert vfs.read("f.txt") == content.replace(search, replace, 1).encode()


def _split(instruction: Instruction, cuts: list[int]) -> list[Instruction]:
    match instruction:
        case WriteChunk(data=data):
            return [WriteChunk(piece) for piece in _pieces(data, cuts)]
        case RawChunk(tag=tag, data=data):
            return [RawChunk(tag, piece) for piece in _pieces(data, cuts)]
        case Text(text=text):
            return [Text(piece) for piece in _pieces(text, cuts)]
        case _:
            return [instruction]


def _pieces(data: AnyStr, cuts: list[int]) -> list[AnyStr]:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


TURN: list[Instruction] = [
    Text("I will write, edit and read.\n"),
    *command("write_file", b"alpha\nbeta\ngamma\n" * 3 + b"delta\n", path="f.txt"),
    *edit("f.txt", ("delta\n", "DELTA\n"), ("gamma\nDELTA", "G\nD")),
    *command("apply_edit", "@@ -9 +9 @@\n G\n-D\n+D2\n", path="f.txt"),
    *command("read_file", path="f.txt", start_line="2"),
    *command("terminal", b"printf hello"),
    Text("done"),
]


@SETTINGS
@given(cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_chunking_of_the_instruction_stream_never_changes_results(cuts: list[int]) -> None:
    from sa3p_engine.testing import CONFORMANCE_COMMANDS

    def run(instructions: list[Instruction]) -> tuple[str, bytes]:
        engine, vfs, _ = make_engine(scripts=dict(CONFORMANCE_COMMANDS))
        return engine.execute_turn(instructions).render(), vfs.read("f.txt")

    whole = run(TURN)
    chunked = run([piece for item in TURN for piece in _split(item, cuts)])
    assert chunked == whole
    assert "[apply_edit f.txt] ok" in whole[0] and "FAILED" not in whole[0]


@SETTINGS
@given(content=TEXT, search=TEXT, replace=TEXT)
def test_matching_never_raises_and_stays_in_bounds(content: str, search: str, replace: str) -> None:
    from sa3p_engine._edit_tiers import Match, MatchFailure, find_match

    result = find_match(content, search, replace)
    if isinstance(result, Match):
        assert 0 <= result.start <= result.end <= len(content)
        assert 0.0 <= result.similarity <= 1.0
    else:
        assert isinstance(result, MatchFailure) and result.reason


@SETTINGS
@given(
    lines=st.lists(
        st.text(alphabet="abcxyz_()=", min_size=3, max_size=12),
        min_size=3,
        max_size=30,
        unique=True,
    ),
    data=st.data(),
)
def test_uniformly_reindented_search_is_found_by_the_whitespace_tier(
    lines: list[str], data: st.DataObject
) -> None:
    from sa3p_engine._edit_tiers import Match, find_match

    content = "".join(f"    {line}\n" for line in lines)
    first = data.draw(st.integers(0, len(lines) - 2))
    size = data.draw(st.integers(2, len(lines) - first))
    search = "".join(f"{line}\n" for line in lines[first : first + size])
    result = find_match(content, search, "new\n")
    assert isinstance(result, Match) and result.tier is EditTier.WHITESPACE
    edited = content[: result.start] + result.new_text + content[result.end :]
    region = "".join(f"    {line}\n" for line in lines[first : first + size])
    expected = content.replace(region, "    new\n")
    assert edited == expected
