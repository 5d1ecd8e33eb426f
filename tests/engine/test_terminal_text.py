"""What the model reads of a terminal command: escape sequences removed, overprints collapsed;
live output for people, raw, with a start marker; output codes in step with backend codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sa3p_engine import (
    ErrorCode,
    LiveOutput,
    OutputCode,
    TerminalOutput,
    clean_terminal_text,
)
from sa3p_engine.testing import ScriptedCommand

from .engine_helpers import command, make_engine, run_one


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred\x1b[0m and \x1b[1;32mgreen\x1b[m\n", "red and green\n"),
        ("10%\r20%\r100%\n", "100%\n"),
        ("downloading... 3/10\rdone\n", "doneloading... 3/10\n"),
        ("downloading... 3/10\r\x1b[Kdone\n", "done\n"),
        ("windows\r\nlines\r\n", "windows\nlines\n"),
        ("abc\b\bXY\n", "aXY\n"),
        ("\x1b]0;a title\x07prompt$ \n", "prompt$ \n"),
        ("cursor \x1b[2Amoves\x1b[10D away\n", "cursor moves away\n"),
        ("cut off at the end \x1b[3", "cut off at the end "),
        ("|\r/\r-\r\\\rok", "ok"),
        ("spinner |\rok", "okinner |"),
        ("downloading 50%\x1b[2K\rdone\n", "done\n"),  # erase the whole line
        ("progress 10%\x1b[1G\x1b[0Kprogress 100%\n", "progress 100%\n"),  # Node's readline
        ("abcdef\x1b[1Kx\n", "      x\n"),  # erase up to the cursor
        ("abc\x1b[99999999Gfar\n", "abc" + " " * 1020 + "far\n"),  # an edge, not memory
        ("before\x1b]0;a title cut off", "before"),  # an OSC that never ends
        ("a\x1b]1337;File=" + "x" * 5000 + "\x07b\n", "ab\n"),  # a long OSC (inline image)
        ("a\x1bPq#0;2;0;0;0\x1b\\b\n", "ab\n"),  # DCS (sixel) up to its ST
        ("build failed\x07\n", "build failed\n"),  # a bell rings nothing for the model
    ],
)
def test_what_a_terminal_would_finally_show(raw: str, shown: str) -> None:
    assert clean_terminal_text(raw) == shown


@given(st.text(alphabet=st.characters(blacklist_characters="\r\b\x1b\x07")))
def test_text_without_escapes_or_overprints_is_unchanged(text: str) -> None:
    assert clean_terminal_text(text) is text


@given(
    st.text(
        alphabet=st.sampled_from(
            ["a", "b", " ", "\n", "\r", "\b", "\x1b", "\x07", "[", "]", "\\", "K", "G", "3"]
        )
    )
)
def test_cleaned_text_has_no_escapes_and_cleaning_is_idempotent(text: str) -> None:
    cleaned = clean_terminal_text(text)
    assert not any(c in cleaned for c in "\x1b\r\b\x07")
    assert clean_terminal_text(cleaned) == cleaned


def test_the_model_reads_clean_output_and_people_see_it_raw_as_it_comes() -> None:
    raw = b"\x1b[32mok\x1b[0m 1/3\r\x1b[Kok 3/3\n"
    live: list[LiveOutput] = []
    engine, _, _ = make_engine(scripts={"make": ScriptedCommand(output=raw)}, on_output=live.append)
    output = run_one(engine, command("terminal", "make"))
    assert isinstance(output, TerminalOutput) and output.output == "ok 3/3\n"
    assert live == [LiveOutput("make", b""), LiveOutput("make", raw)]  # started, then the bytes


def test_no_live_output_is_asked_for_without_a_callback() -> None:
    engine, _, _ = make_engine(scripts={"make": ScriptedCommand(output=b"x")})
    assert run_one(engine, command("terminal", "make")).ok


def test_every_backend_code_is_an_output_code_of_the_same_name() -> None:
    for code in ErrorCode:
        assert OutputCode(code.value).name == code.name
