"""The live view people see on stderr while a command runs: plain lines when piped; on a
terminal, a compact view redrawn in place that never wraps, rings no bell and keeps bounded
state whatever the command prints."""

from __future__ import annotations

import io
import re
import unicodedata

import pytest

from sa3p_engine import LiveOutput
from sa3p_host import _live_view
from sa3p_host._live_view import LiveView

ERASE = re.compile(r"\x1b\[\d*A|\x1b\[J|\r")


def _columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in line.expandtabs())


def _drawn_lines(written: str) -> list[str]:
    return [line for line in ERASE.sub("", written).split("\n") if line]


def test_piped_it_is_plain_lines_each_written_once() -> None:
    err = io.StringIO()
    view = LiveView(err, compact=False)
    view(LiveOutput("make", b""))
    view(LiveOutput("make", b"\x1b[32mbuilding\x1b[0m\nlin"))
    view(LiveOutput("make", b"king\n10%\r100%"))
    view.end()
    view.close()
    assert err.getvalue() == "[terminal make] running\nbuilding\nlinking\n100%\n"


@pytest.mark.parametrize(
    "text",
    [
        "x" * 70,
        "col\tcol\tcol\tcol\tcol\tcol\tcol end",
        "漢字" * 30,
        "bell\x07 vertical\x0b tab form\x0c feed",
    ],
)
def test_on_a_terminal_every_drawn_line_fits_and_rings_nothing(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")  # a StringIO has no terminal: the fallback width
    err = io.StringIO()
    view = LiveView(err, compact=True)
    view(LiveOutput("echo " + text, b""))
    view(LiveOutput("echo " + text, (text + "\n").encode() * 3))
    view.close()
    drawn = _drawn_lines(err.getvalue())
    assert drawn and all(_columns(line) <= 39 for line in drawn), drawn
    assert not re.search(r"[\x07\x0b\x0c]", err.getvalue())


def test_a_progress_bar_without_a_newline_shows_as_it_stands() -> None:
    err = io.StringIO()
    view = LiveView(err, compact=True)
    view(LiveOutput("pip install x", b""))
    view(LiveOutput("pip install x", b"downloading 10%\rdownloading 55%"))
    assert "downloading 55%" in _drawn_lines(err.getvalue())[-1]
    view.close()


def test_a_long_line_without_a_newline_keeps_only_its_end() -> None:
    err = io.StringIO()
    view = LiveView(err, compact=False)
    view(LiveOutput("yes", b""))
    for _ in range(200):  # 12.8 MB in one line: state stays bounded
        view(LiveOutput("yes", b"a" * 65536))
        assert len(view._partial) <= _live_view._PARTIAL_KEPT
    view.close()
    assert err.getvalue() == "[terminal yes] running\n" + "a" * _live_view._PARTIAL_KEPT + "\n"
