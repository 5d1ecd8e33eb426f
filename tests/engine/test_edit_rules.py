"""apply_edit never writes a wrong result and reports ok: one test (a property where it can be)
per class of failure found against other projects' edit cases, and the forms whose meaning is
clear that used to be refused."""

from __future__ import annotations

import difflib
import random

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sa3p_engine import ApplyEditOutput, CommandOutput, EditTier, ReadFileOutput

from .engine_helpers import command, edit, make_engine, run_both, run_one, text_edit

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WORDS = ["alpha", "beta", "gamma", "delta", "total", "count", "item", "value", "x", "y"]


def apply_text(data: bytes, body: str, **attributes: str) -> tuple[CommandOutput, bytes]:
    outputs, files = run_both({"f.py": data}, text_edit("f.py", body, **attributes))
    [output] = outputs
    return output, files["f.py"]


def apply_pairs(
    data: bytes, *pairs: tuple[str, str], **attributes: str
) -> tuple[CommandOutput, bytes]:
    outputs, files = run_both({"f.py": data}, edit("f.py", *pairs, **attributes))
    [output] = outputs
    return output, files["f.py"]


@st.composite
def code_files(draw: st.DrawFn, min_lines: int = 6, max_lines: int = 30) -> list[str]:
    """Code-like lines (with repetition: the same statement in several places)."""
    count = draw(st.integers(min_lines, max_lines))
    lines = []
    for _ in range(count):
        indent = "    " * draw(st.integers(0, 2))
        a, b = draw(st.sampled_from(WORDS)), draw(st.sampled_from(WORDS))
        shape = draw(st.integers(0, 3))
        text = [f"{a} = {b} + 1", f"if {a}:", f"return {a}({b})", ""][shape]
        lines.append(f"{indent}{text}\n" if text else "\n")
    return lines


@st.composite
def file_edits(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """A file and a changed copy (lines replaced, removed or added in one region)."""
    old = draw(code_files())
    start = draw(st.integers(0, len(old) - 1))
    stop = draw(st.integers(start, min(len(old), start + 4)))
    added = draw(st.lists(st.sampled_from(WORDS), max_size=3))
    new = old[:start] + [f"    {word}_new = 0\n" for word in added] + old[stop:]
    assume(new != old)
    return old, new


def unified(old: list[str], new: list[str], context: int) -> str:
    return "".join(difflib.unified_diff(old, new, "a/f.py", "b/f.py", n=context))


# --- 1. markdown fences around a diff ---------------------------------------------------------


@SETTINGS
@given(
    change=file_edits(), context=st.integers(0, 3), fence=st.sampled_from(["```diff", "```", "~~~"])
)
def test_a_fenced_diff_means_the_same_as_the_diff_or_is_refused(
    change: tuple[list[str], list[str]], context: int, fence: str
) -> None:
    old, new = change
    body = unified(old, new, context)
    data = "".join(old).encode()
    plain, plain_data = apply_text(data, body)
    fenced, fenced_data = apply_text(data, f"Here is the diff:\n\n{fence}\n{body}{fence[:3]}\n")
    if not fenced.ok:
        assert fenced_data == data
        return
    assert fenced.render() == plain.render() and fenced_data == plain_data
    assert b"```" not in fenced_data and b"~~~" not in fenced_data


def test_the_closing_fence_of_a_diff_is_never_written_as_context() -> None:
    data = (
        b"def compute(a, b):\n    total = a + b\n    scaled = total * FACTOR\n    return scaled\n"
    )
    body = (
        "```diff\n@@ -1,4 +1,4 @@\n def compute(a, b):\n     total = a + b\n"
        "-    scaled = total * FACTOR\n+    scaled = total * FACTOR * 2\n     return scaled\n```\n"
    )
    output, new = apply_text(data, body)
    assert output.ok, output.render()
    assert new == data.replace(b"FACTOR\n", b"FACTOR * 2\n")


# --- 2. diff context lines locate, they are never written -------------------------------------


@SETTINGS
@given(change=file_edits(), data=st.data())
def test_wrong_context_lines_are_never_written(
    change: tuple[list[str], list[str]], data: st.DataObject
) -> None:
    old, new = change
    body = unified(old, new, 3).split("\n")
    context_rows = [i for i, line in enumerate(body) if line.startswith(" ") and line.strip()]
    assume(context_rows)
    row = data.draw(st.sampled_from(context_rows))
    body[row] = body[row] + "_typo"
    output, result = apply_text("".join(old).encode(), "\n".join(body))
    assert b"_typo" not in result
    if output.ok:
        assert result == "".join(new).encode()


def test_the_files_context_survives_a_fuzzy_hunk() -> None:
    data = (
        b"import os\n\ndef compute(a, b):\n    total = a + b\n    scaled = total * FACTOR\n"
        b"    return scaled\n"
    )
    body = (
        "@@ -3,4 +3,4 @@\n def compute(x, y):\n     total = a + b\n-    scaled = total * FACTOR\n"
        "+    scaled = total * FACTOR * 2\n     return scaled\n"
    )
    output, new = apply_text(data, body)
    assert isinstance(output, ApplyEditOutput) and output.edits[0].tier is EditTier.FUZZY
    assert b"def compute(a, b):" in new and b"compute(x, y)" not in new
    assert new == data.replace(b"FACTOR\n", b"FACTOR * 2\n")


def test_a_context_line_that_does_not_match_even_loosely_refuses_the_hunk() -> None:
    data = (
        b"def compute(a, b):\n    total = a + b\n    scaled = total * FACTOR\n"
        b"    log_the_result(scaled)\n    return scaled\n"
    )
    body = (
        "@@ -1,5 +1,5 @@\n def compute(a, b):\n     total = a + b\n-    scaled = total * FACTOR\n"
        "+    scaled = total * FACTOR * 2\n     }\n     return scaled\n"
    )
    output, new = apply_text(data, body)
    assert not output.ok and new == data
    assert "context line" in (output.error or "") or "no match" in (output.error or "")


# --- 3. nothing in the body is dropped silently -----------------------------------------------

BLOCK = "<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n"
SOURCE = b"one = 1\ntwo = 2\nthree = 3\n"
JUNK = [
    "<<<< SEARCH",
    "<<<<<<<<<< SEARCH",
    "<<<<<<< SEARCH!",
    "Now the second change:",
    "-two = 2",
    "@ -1 +1 @",
    ">>>>>>> REPLACE",
    "=======",
]


@SETTINGS
@given(junk=st.sampled_from(JUNK), where=st.integers(0, 2))
def test_an_unrecognised_line_between_blocks_refuses_the_whole_edit(junk: str, where: int) -> None:
    blocks = [
        BLOCK.format(old="one = 1", new="one = 10"),
        BLOCK.format(old="three = 3", new="three = 30"),
    ]
    pieces = [*blocks]
    pieces.insert(where, junk + "\n")
    body = "".join(pieces)
    line = "".join(pieces[:where]).count("\n") + 1
    output, data = apply_text(SOURCE, body)
    assert not output.ok and data == SOURCE
    assert f"line {line} of the body" in (output.error or "")


@pytest.mark.parametrize("text", ["just some prose\n", "```\nplain text\n```\n"])
def test_bodies_without_any_edit_are_refused(text: str) -> None:
    output, data = apply_text(SOURCE, text)
    assert not output.ok and data == SOURCE


def test_a_diff_line_outside_a_hunk_and_prose_after_a_hunk_are_refused() -> None:
    before = "-one = 1\n@@ -1 +1 @@\n-one = 1\n+one = 10\n"
    after = "@@ -1 +1 @@\n-one = 1\n+one = 10\nThat fixes it.\n"
    for body, line in ((before, 1), (after, 4)):
        output, data = apply_text(SOURCE, body)
        assert not output.ok and data == SOURCE
        assert f"line {line} of the body" in (output.error or "")


def test_a_diff_for_another_file_is_refused() -> None:
    body = "--- a/other.py\n+++ b/other.py\n@@ -1 +1 @@\n-one = 1\n+one = 10\n"
    output, _ = apply_text(SOURCE, body)
    assert not output.ok and "apply_patch" in (output.error or "")


def test_a_v4a_patch_in_apply_edit_points_to_apply_patch() -> None:
    body = "*** Begin Patch\n*** Update File: f.py\n-one = 1\n+one = 10\n*** End Patch\n"
    output, _ = apply_text(SOURCE, body)
    assert not output.ok and "<apply_patch>" in (output.error or "")


# --- 4. long fuzzy searches land on the intended lines or are refused -------------------------


def _code_file(rng: random.Random, count: int) -> list[str]:
    """Code-like text with the repetition real files have (same statements, similar functions)."""
    names = [f"{rng.choice(WORDS)}_{rng.randrange(40)}" for _ in range(200)]
    lines: list[str] = []
    while len(lines) < count:
        name = rng.choice(names)
        lines.append(f"def {name}({rng.choice(WORDS)}, {rng.choice(WORDS)}):\n")
        for _ in range(rng.randrange(2, 12)):
            a, b = rng.choice(names), rng.choice(names)
            lines.append(
                rng.choice(
                    [
                        f"    {a} = {b}({rng.randrange(10)})\n",
                        f"    if {a} > {rng.randrange(100)}:\n",
                        f"        return {b}\n",
                        f"    {a}.append({b}, key='{rng.choice(WORDS)}')\n",
                    ]
                )
            )
        lines += ["    return None\n", "\n", "\n"]
    return lines[:count]


def _perturb(lines: list[str], rng: random.Random, rate: float) -> list[str]:
    """Typos in about ``rate`` of the characters, and a non-blank line dropped or doubled."""
    lines = list(lines)
    for _ in range(int(sum(map(len, lines)) * rate)):
        index = rng.randrange(len(lines))
        line = lines[index]
        if len(line.strip()) < 3:  # a typo must not blank a line out (the search would end early)
            continue
        at = rng.randrange(len(line) - 1)
        char = rng.choice("abcxyz_ ()")
        lines[index] = rng.choice(
            [
                line[:at] + char + line[at + 1 :],
                line[:at] + char + line[at:],
                line[:at] + line[at + 1 :],
            ]
        )
    index = rng.randrange(1, len(lines) - 1)
    if lines[index].strip():
        if rng.random() < 0.5:
            del lines[index]
        else:
            lines.insert(index, lines[index])
    return lines


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    size=st.sampled_from([200, 400]),
    rate=st.sampled_from([0.01, 0.03, 0.06]),
)
def test_a_long_perturbed_search_lands_on_its_lines_or_is_refused(
    seed: int, size: int, rate: float
) -> None:
    from sa3p_engine._edit_tiers import Match, find_match

    rng = random.Random(seed)
    lines = _code_file(rng, 2500)
    start = rng.randrange(len(lines) - size)
    region = lines[start : start + size]
    assume(region[0].strip() and region[-1].strip())
    content = "".join(lines)
    found = find_match(content, "".join(_perturb(region, rng, rate)), "REPLACED\n")
    if isinstance(found, Match):
        first = len("".join(lines[:start]))
        assert (found.start, found.end) == (first, first + len("".join(region)))


def test_a_long_search_next_to_a_near_copy_is_refused_or_exact() -> None:
    from sa3p_engine._edit_tiers import Match, find_match

    rng = random.Random(7)
    lines = _code_file(rng, 1500)
    region = lines[400:700]
    copy = _perturb(region, rng, 0.005)
    lines = lines + copy
    content = "".join(lines)
    found = find_match(content, "".join(_perturb(region, rng, 0.01)), "REPLACED\n")
    if isinstance(found, Match):
        first = len("".join(lines[:400]))
        assert (found.start, found.end) == (first, first + len("".join(region)))


# --- 5. "\ No newline at end of file" ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "body", "expected"),
    [
        (b"a\nb\n", "@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n", b"a\nc"),
        (b"a\nb", "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n", b"a\nc\n"),
        (
            b"a\nb",
            "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
            "\\ No newline at end of file\n",
            b"a\nc",
        ),
        (b"a\nb", "@@ -1,2 +1,2 @@\n-a\n+A\n b\n\\ No newline at end of file\n", b"A\nb"),
        (b"a\nb", "@@ -1,2 +1,2 @@\n-a\n+A\n b\n", b"A\nb"),  # no marker: the file's state
        (b"a\r\nb\r\n", "@@ -2 +2 @@\n-b\n+c\n\\ No newline at end of file\n", b"a\r\nc"),
    ],
    ids=["drop-final-newline", "add-final-newline", "keep-none", "context-at-end", "kept", "crlf"],
)
def test_no_newline_markers_set_the_final_newline(data: bytes, body: str, expected: bytes) -> None:
    output, new = apply_text(data, body)
    assert output.ok, output.render()
    assert new == expected


# --- 6. a doubled divider ---------------------------------------------------------------------


def test_a_doubled_divider_is_refused_not_written() -> None:
    body = "<<<<<<< SEARCH\ntwo = 2\n=======\n=======\ntwo = 22\n>>>>>>> REPLACE\n"
    output, data = apply_text(SOURCE, body)
    assert not output.ok and data == SOURCE
    assert "line 4 of the body is a second =======" in (output.error or "")


# --- forms whose meaning is clear -------------------------------------------------------------


@pytest.mark.parametrize("run", range(5, 10))
@pytest.mark.parametrize("search_word", ["SEARCH", "SEARCH>", "search"])
def test_marker_runs_of_five_to_nine(run: int, search_word: str) -> None:
    body = f"{'<' * run} {search_word}\ntwo = 2\n{'=' * run}\ntwo = 22\n{'>' * run} REPLACE\n"
    output, data = apply_text(SOURCE, body)
    assert output.ok, output.render()
    assert data == b"one = 1\ntwo = 22\nthree = 3\n"


AIDER_STYLE = "f.py\n```python\n<<<<<<< SEARCH\ntwo = 2\n=======\ntwo = 22\n>>>>>>> REPLACE\n```\n"


def test_a_file_name_line_and_fences_around_blocks_are_allowed() -> None:
    output, data = apply_text(SOURCE, AIDER_STYLE)
    assert output.ok and data == b"one = 1\ntwo = 22\nthree = 3\n"
    output, data = apply_text(SOURCE, AIDER_STYLE.replace("f.py\n", "other.py\n"))
    assert not output.ok and "line 1 of the body" in (output.error or "")


HEADERS = ["@@ -2 +2 @@", "@@ ... @@", "@@ … @@", "@@", "@@ one = 1", "@@ -1,3 +1,3 @@ one = 1"]


@pytest.mark.parametrize("header", HEADERS)
def test_hunk_header_forms(header: str) -> None:
    output, data = apply_text(SOURCE, f"{header}\n-two = 2\n+two = 22\n")
    assert output.ok, output.render()
    assert data == b"one = 1\ntwo = 22\nthree = 3\n"


REPEATED = (
    b"class A:\n    def f(self):\n        return 1\nclass B:\n    def f(self):\n        return 1\n"
)


def test_an_anchor_picks_the_nearest_place_after_it() -> None:
    body = "@@ class B:\n-        return 1\n+        return 2\n"
    output, data = apply_text(REPEATED, body)
    assert output.ok and data == REPEATED[:-2] + b"2\n"
    body = "@@ class A:\n@@     def f(self):\n-        return 1\n+        return 2\n"
    output, data = apply_text(REPEATED, body)
    assert output.ok and data == REPEATED.replace(b"1\n", b"2\n", 1)


def test_an_ambiguous_anchor_or_hunk_is_refused_with_lines() -> None:
    output, data = apply_text(
        REPEATED, "@@     def f(self):\n-        return 1\n+        return 2\n"
    )
    assert not output.ok and data == REPEATED and "3, 6" in (output.error or "")
    output, data = apply_text(REPEATED, "@@\n-        return 1\n+        return 2\n")
    assert not output.ok and "ambiguous" in (output.error or "")


def test_an_anchor_that_is_not_in_the_file_refuses_the_hunk() -> None:
    output, data = apply_text(REPEATED, "@@ class C:\n-        return 1\n+        return 2\n")
    assert not output.ok and data == REPEATED and "class C:" in (output.error or "")


@pytest.mark.parametrize(
    ("search", "replace"),
    [("\ntwo = 2\n", "\ntwo = 22\n"), ("two = 2\n\n\n", "two = 22\n"), ("\n\ntwo = 2", "two = 22")],
)
def test_blank_lines_at_the_edges_of_a_search(search: str, replace: str) -> None:
    output, data = apply_pairs(SOURCE, (search, replace))
    assert output.ok, output.render()
    assert data == b"one = 1\ntwo = 22\nthree = 3\n"


@SETTINGS
@given(lines=code_files(min_lines=3), data=st.data())
def test_a_search_copied_from_read_file_output_applies_without_its_numbers(
    lines: list[str], data: st.DataObject
) -> None:
    content = "".join(lines).encode()
    engine, vfs, _ = make_engine({"f.py": content})
    read = run_one(engine, command("read_file", path="f.py"))
    assert isinstance(read, ReadFileOutput)
    numbered = read.content.splitlines(keepends=True)
    first = data.draw(st.integers(0, len(numbered) - 1))
    last = data.draw(st.integers(first, len(numbered) - 1))
    search = "".join(numbered[first : last + 1])
    plain = "".join(lines[first : last + 1])
    assume(plain.strip() and content.count(plain.encode()) == 1)
    output = run_one(engine, edit("f.py", (search, "REPLACED\n")))
    assert output.ok, output.render()
    assert vfs.read("f.py") == content.replace(plain.encode(), b"REPLACED\n", 1)


def test_line_numbers_are_kept_when_not_every_line_has_one_in_sequence() -> None:
    data = b"1 | a\n3 | b\nc\n"
    output, new = apply_pairs(data, ("1 | a\n3 | b\n", "x\n"))
    assert output.ok and new == b"x\nc\n"


# --- expected_replacements --------------------------------------------------------------------

MANY = b"log(1)\nrun()\nlog(1)\nstop()\nlog(1)\n"


def test_expected_replacements_replaces_every_match() -> None:
    output, data = apply_pairs(MANY, ("log(1)", "log(2)"), expected_replacements="3")
    assert isinstance(output, ApplyEditOutput), output.render()
    assert data == MANY.replace(b"log(1)", b"log(2)")
    assert output.edits[0].ranges == ((1, 1), (3, 3), (5, 5))
    assert "3 places" in output.render()


@pytest.mark.parametrize("count", ["2", "4"])
def test_expected_replacements_must_match_the_count(count: str) -> None:
    output, data = apply_pairs(MANY, ("log(1)", "log(2)"), expected_replacements=count)
    assert not output.ok and data == MANY
    assert f'expected_replacements="{count}"' in (output.error or "") and "3 places" in (
        output.error or ""
    )


def test_expected_replacements_by_the_whitespace_tier_and_never_fuzzy() -> None:
    data = b"  a = compute(1)\nb\n    a = compute(1)\n"
    output, new = apply_pairs(
        data, ("a = compute(1)\n", "a = compute(2)\n"), expected_replacements="2"
    )
    assert output.ok and new == b"  a = compute(2)\nb\n    a = compute(2)\n"
    long_search = "value = compute_something_long(1, 2, 3)\n"
    text = b"value = compute_something_long(1, 2, 4)\n" * 2
    output, _ = apply_pairs(text, (long_search, "x\n"), expected_replacements="2")
    assert not output.ok and "fuzzy tier only ever replaces one place" in (output.error or "")


def test_expected_replacements_is_not_for_diff_hunks_and_must_be_a_count() -> None:
    output, _ = apply_text(MANY, "@@\n-run()\n+go()\n", expected_replacements="2")
    assert not output.ok and "not to diff hunks" in (output.error or "")
    output, _ = apply_pairs(MANY, ("run()", "go()"), expected_replacements="0")
    assert not output.ok and "integer >= 1" in (output.error or "")


# --- already applied --------------------------------------------------------------------------


def test_an_edit_already_applied_says_so() -> None:
    done = b"one = 1\ntwo = 22\nthree = 3\n"
    output, _ = apply_pairs(done, ("two = 2\n", "two = 22\n"))
    assert not output.ok and "already applied" in (output.error or "")
    output, _ = apply_text(done, "@@\n one = 1\n-two = 2\n+two = 22\n three = 3\n")
    assert not output.ok and "already applied" in (output.error or "")


# --- the diff in the result -------------------------------------------------------------------


def test_a_one_line_insertion_shows_as_one_added_line() -> None:
    output, _ = apply_pairs(SOURCE, ("two = 2\n", "two = 2\ntwo_and_a_half = 2.5\n"))
    assert isinstance(output, ApplyEditOutput)
    assert output.diff.count("\n+") == 1 and "\n-" not in output.diff
    assert "+two_and_a_half = 2.5" in output.diff


def test_the_diff_is_capped() -> None:
    data = "".join(f"line {n}\n" for n in range(300)).encode()
    search = "".join(f"line {n}\n" for n in range(300))
    output, _ = apply_pairs(data, (search, search.replace("line", "LINE")))
    assert isinstance(output, ApplyEditOutput)
    assert len(output.diff.split("\n")) <= 80 and "more diff lines" in output.diff


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.sampled_from([*JUNK, *HEADERS, " one = 1", "+two = 22", "two = 2", "", "```"]),
        max_size=12,
    )
)
def test_any_body_gives_a_result_never_an_exception(lines: list[str]) -> None:
    output, data = apply_text(SOURCE, "\n".join(lines) + "\n")
    assert output.ok or data == SOURCE
