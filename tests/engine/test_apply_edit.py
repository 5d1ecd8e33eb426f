"""apply_edit: formats, tiers, uniqueness, atomicity, literal replacement, line endings."""

from __future__ import annotations

import hashlib

import pytest

from sa3p_engine import ApplyEditOutput, CommandOutput, EditTier, OutputCode
from sa3p_parser import Instruction

from .engine_helpers import edit, make_engine, run_one, text_edit

SOURCE = b"""\
def alpha():
    return 1


def beta(x):
    if x:
        return 2
    return 3
"""


def apply(files: dict[str, bytes], instructions: list[Instruction]) -> tuple[CommandOutput, bytes]:
    engine, vfs, _ = make_engine(files)
    output = run_one(engine, instructions)
    path = next(iter(files))
    return output, vfs.read(path)


def applied(
    files: dict[str, bytes], instructions: list[Instruction]
) -> tuple[ApplyEditOutput, bytes]:
    output, data = apply(files, instructions)
    assert isinstance(output, ApplyEditOutput), getattr(output, "error", output)
    return output, data


def refused(files: dict[str, bytes], instructions: list[Instruction]) -> str:
    output, data = apply(files, instructions)
    assert not output.ok, output
    assert data == next(iter(files.values())), "a refused edit must leave the file unchanged"
    error = output.error
    assert isinstance(error, str)
    return error


# --- formats ----------------------------------------------------------------------------------


def test_search_replace_pair_exact() -> None:
    output, data = applied({"m.py": SOURCE}, edit("m.py", ("    return 1\n", "    return 10\n")))
    assert data == SOURCE.replace(b"return 1\n", b"return 10\n")
    [report] = output.edits
    assert report.tier is EditTier.EXACT and (report.start_line, report.end_line) == (2, 2)
    assert output.sha256 == hashlib.sha256(data).hexdigest()
    assert "-    return 1" in output.diff and "+    return 10" in output.diff
    assert "edit 1: exact match, now lines 2-2" in output.render()


def test_several_pairs_apply_in_order() -> None:
    output, data = applied(
        {"m.py": SOURCE},
        edit(
            "m.py", ("return 1", "return 11"), ("return 11", "return 12"), ("return 3", "return 4")
        ),
    )
    assert b"return 12" in data and b"return 4" in data and b"return 11" not in data
    assert [report.index for report in output.edits] == [1, 2, 3]


def test_conflict_marker_blocks() -> None:
    body = (
        "m.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 100\n>>>>>>> REPLACE\n\n"
        "<<<<<<< SEARCH\n    return 3\n=======\n    return 300\n>>>>>>> REPLACE\n"
    )
    output, data = applied({"m.py": SOURCE}, text_edit("m.py", body))
    assert b"return 100\n" in data and b"return 300\n" in data and len(output.edits) == 2


def test_unclosed_conflict_block_is_refused() -> None:
    body = "<<<<<<< SEARCH\n    return 1\n=======\n    return 100\n"
    assert "not closed" in refused({"m.py": SOURCE}, text_edit("m.py", body))


def test_unified_diff_applies_by_context_not_line_numbers() -> None:
    body = (
        "--- a/m.py\n+++ b/m.py\n@@ -40,3 +40,3 @@ def beta(x):\n     if x:\n-        return 2\n"
        "+        return 20\n     return 3\n"
    )
    output, data = applied({"m.py": SOURCE}, text_edit("m.py", body))
    assert data == SOURCE.replace(b"return 2\n", b"return 20\n")
    assert output.edits[0].tier is EditTier.EXACT


def test_diff_without_hunks_and_unknown_bodies_are_refused() -> None:
    assert "no edits found" in refused({"m.py": SOURCE}, text_edit("m.py", "just prose\n"))
    assert "the edit is empty" in refused({"m.py": SOURCE}, text_edit("m.py", "\n  \n"))


def test_mixing_formats_is_refused() -> None:
    instructions = edit("m.py", ("return 1", "return 2"))
    instructions.insert(1, __import__("sa3p_parser").Text("@@ -1 +1 @@\n-a\n+b\n"))
    assert "mixes" in refused({"m.py": SOURCE}, instructions)


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        (("", "x"), "search text is empty"),
        (("  \n", "x"), "search text is empty"),
        (("return 1", "return 1"), "identical"),
    ],
)
def test_empty_or_identical_search_is_refused(pair: tuple[str, str], message: str) -> None:
    assert message in refused({"m.py": SOURCE}, edit("m.py", pair))


def test_ambiguous_exact_match_lists_each_candidate() -> None:
    data = b"x = 1\ny = 2\nx = 1\n"
    error = refused({"d.py": data}, edit("d.py", ("x = 1", "x = 9")))
    assert "ambiguous" in error and "2 places" in error and "lines 1, 3" in error


def test_ambiguous_whitespace_match_is_refused_not_guessed() -> None:
    data = b"if a:\n    go()\nif b:\n        go()\n"
    error = refused({"d.py": data}, edit("d.py", ("go()\n", "stop()\n")))
    # "go()" alone is an exact substring twice
    assert "ambiguous" in error


def test_no_match_shows_the_closest_region_with_lines_and_similarity() -> None:
    error = refused(
        {"m.py": SOURCE},
        edit("m.py", ("def gamma(y):\n    if y:\n        return 7\n", "pass\n")),
    )
    assert "no match" in error and "closest region is lines" in error
    assert "similarity" in error and "def beta(x):" in error


def test_one_failing_pair_applies_none_and_names_it() -> None:
    error = refused(
        {"m.py": SOURCE}, edit("m.py", ("return 1", "return 10"), ("not there at all", "x"))
    )
    assert error.startswith("edit 2 of 2:") and "No edit was applied" in error


def test_stale_sha256_is_refused_and_matching_sha256_accepted() -> None:
    stale = "0" * 64
    error = refused({"m.py": SOURCE}, edit("m.py", ("return 1", "return 5"), expected_sha256=stale))
    assert "stale file" in error and hashlib.sha256(SOURCE).hexdigest()[:16] in error
    current = hashlib.sha256(SOURCE).hexdigest().upper()
    applied({"m.py": SOURCE}, edit("m.py", ("return 1", "return 5"), expected_sha256=current))
    assert "not a SHA-256" in refused(
        {"m.py": SOURCE}, edit("m.py", ("return 1", "return 5"), expected_sha256="xyz")
    )


def test_missing_file_and_non_utf8_file_are_refused() -> None:
    engine, _, _ = make_engine()
    output = run_one(engine, edit("nope.py", ("a", "b")))
    assert not output.ok and output.error is not None and "not_found" in output.error
    assert "not UTF-8" in refused({"b.bin": b"\xff\xfe a"}, edit("b.bin", ("a", "b")))


# --- literal replacement and whitespace -------------------------------------------------------


@pytest.mark.parametrize("replacement", ["$&", r"\1", r"\g<0>", "$1$$", "\\n"])
def test_replacement_is_literal(replacement: str) -> None:
    _, data = applied({"r.txt": b"value = OLD\n"}, edit("r.txt", ("OLD", replacement)))
    assert data == b"value = " + replacement.encode() + b"\n"


def test_trailing_whitespace_tolerated() -> None:
    data = b"a = 1   \nb = 2\t\nc = 3\n"
    output, new = applied({"w.py": data}, edit("w.py", ("a = 1\nb = 2\n", "a = 10\nb = 20\n")))
    assert output.edits[0].tier is EditTier.WHITESPACE
    assert new == b"a = 10\nb = 20\nc = 3\n"


def test_uniform_indentation_offset_reindents_the_replacement() -> None:
    search = "if x:\n    return 2\n"
    replace = "if x:\n    log(x)\n    return 2\n"
    output, data = applied({"m.py": SOURCE}, edit("m.py", (search, replace)))
    assert output.edits[0].tier is EditTier.WHITESPACE
    assert b"    if x:\n        log(x)\n        return 2\n    return 3\n" in data


def test_deeper_search_indentation_is_removed_from_the_replacement() -> None:
    search = "        def alpha():\n            return 1\n"
    replace = "        def alpha():\n            return -1\n"
    _, data = applied({"m.py": SOURCE}, edit("m.py", (search, replace)))
    assert data.startswith(b"def alpha():\n    return -1\n")


def test_crlf_file_stays_crlf() -> None:
    data = b"one\r\ntwo\r\nthree\r\n"
    output, new = applied({"w.txt": data}, edit("w.txt", ("one\ntwo\n", "uno\ndos\n")))
    assert new == b"uno\r\ndos\r\nthree\r\n"
    assert output.edits[0].tier is EditTier.WHITESPACE


def test_crlf_file_line_based_edit_keeps_crlf() -> None:
    data = b"  one  \r\n  two\r\nthree\r\n"
    _, new = applied({"w.txt": data}, edit("w.txt", ("one\ntwo\n", "uno\ndos\n")))
    assert new == b"  uno\r\n  dos\r\nthree\r\n"


@pytest.mark.parametrize(
    ("data", "search", "replace", "expected"),
    [
        (b"x\r\ny\r\nz\r\n", "y", "y\nw", b"x\r\ny\r\nw\r\nz\r\n"),  # LF into CRLF
        (b"x\r\ny\r\n", "y", "y\r\nw\nv", b"x\r\ny\r\nw\r\nv\r\n"),  # partly LF
        (b"a\nb\n", "b", "b\r\nc", b"a\nb\nc\n"),  # CRLF into LF
        (b"a\nb\n", "b", "b\rc", b"a\nb\rc\n"),  # a lone CR is not a line ending
        (b"x\r\ny\nz\n", "y", "y\nw\r\nv", b"x\r\ny\nw\r\nv\nz\n"),  # mixed: as written
        (b"only", "only", "one\r\ntwo", b"one\r\ntwo"),  # no newline: as written
    ],
    ids=["crlf-file", "crlf-file-mixed-reply", "lf-file", "lone-cr", "mixed-file", "one-line"],
)
def test_exact_replacement_takes_a_uniform_file_line_ending(
    data: bytes, search: str, replace: str, expected: bytes
) -> None:
    output, new = applied({"e.txt": data}, edit("e.txt", (search, replace)))
    assert output.edits[0].tier is EditTier.EXACT
    assert new == expected


def test_crlf_fallback_replacement_in_a_mixed_file_stays_crlf() -> None:
    data = b"one\r\ntwo\r\nthree\n"
    output, new = applied({"w.txt": data}, edit("w.txt", ("one\ntwo\n", "uno\ndos\n")))
    assert new == b"uno\r\ndos\r\nthree\n"
    assert output.edits[0].tier is EditTier.WHITESPACE


def test_tabs_elsewhere_untouched() -> None:
    makefile = b"all:\n\tcc -o app main.c\n\nclean:\n\trm -f app\n"
    _, new = applied({"Makefile": makefile}, edit("Makefile", ("rm -f app", "rm -f app *.o")))
    assert new == makefile.replace(b"rm -f app", b"rm -f app *.o")
    assert new.count(b"\t") == 2


def test_tab_indented_search_with_space_indented_file_is_not_whitespace_tier() -> None:
    data = b"def f():\n    alpha = compute(1, 'first')\n    beta = compute(2, 'second')\n"
    search = "alpha = compute(1, 'first')\n\tbeta = compute(2, 'second')\n"
    output, new = applied({"t.py": data}, edit("t.py", (search, search.replace("2", "3"))))
    assert output.edits[0].tier is EditTier.FUZZY
    assert b"beta = compute(3, 'second')" in new


def test_short_searches_are_never_matched_fuzzily() -> None:
    data = b"def a():\n    return 1\n"
    error = refused({"s.py": data}, edit("s.py", ("def c():\n    return 7\n", "x\n")))
    assert "no match" in error and "under 40 characters must match exactly" in error


def _word(number: int) -> str:
    return hashlib.sha256(str(number).encode()).hexdigest()[:10]


# --- fuzzy ------------------------------------------------------------------------------------


def test_fuzzy_match_fixes_small_drift_and_reports_similarity() -> None:
    lines = [f"{_word(n)} = compute({_word(n + 1)}, scale=2)\n" for n in range(200)]
    data = "".join(lines).encode()
    search = lines[100] + lines[101].replace("scale", "scal")
    replace = "value_100 = 0\nvalue_101 = 1\n"
    output, new = applied({"f.py": data}, edit("f.py", (search, replace)))
    [report] = output.edits
    assert report.tier is EditTier.FUZZY and 0.85 <= report.similarity < 1.0
    assert (report.start_line, report.end_line) == (101, 102)
    assert ("value_100 = 0\nvalue_101 = 1\n" + lines[102]).encode() in new
    assert "similarity" in output.render()


def test_fuzzy_ambiguity_lists_candidates() -> None:
    block = "for item in items:\n    total += item.price * item.count\n"
    data = (block + "print(total)\n" + block).encode()
    search = "for item in items:\n    total += item.price * item.qty\n"
    error = refused({"a.py": data}, edit("a.py", (search, "pass\n")))
    assert "ambiguous" in error and "fuzzy" in error and "1-2" in error and "4-5" in error


def test_fuzzy_below_threshold_is_refused() -> None:
    data = b"alpha\nbeta\ngamma\n"
    error = refused({"a.txt": data}, edit("a.txt", ("completely different\n", "x\n")))
    assert "below the 0.85 threshold" in error


def test_empty_file_edit_refused() -> None:
    error = refused({"e.txt": b""}, edit("e.txt", ("a\n", "b\n")))
    assert "empty" in error


@pytest.mark.parametrize("digits", [12, 16, 64])
def test_expected_sha256_may_be_a_prefix_of_12_digits_or_more(digits: int) -> None:
    prefix = hashlib.sha256(SOURCE).hexdigest()[:digits]
    output, _ = applied(
        {"m.py": SOURCE}, edit("m.py", ("return 1", "return 5"), expected_sha256=prefix)
    )
    assert len(output.sha256) == 64
    assert (
        f"sha256 {output.sha256[:16]}" in output.render() and output.sha256 not in output.render()
    )


def test_a_prefix_too_short_is_refused_as_ambiguous_and_a_wrong_one_as_stale() -> None:
    digest = hashlib.sha256(SOURCE).hexdigest()
    short, _ = apply(
        {"m.py": SOURCE}, edit("m.py", ("return 1", "return 5"), expected_sha256=digest[:11])
    )
    assert short.code is OutputCode.AMBIGUOUS_HASH and "at least 12" in (short.error or "")
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:16]
    stale, _ = apply(
        {"m.py": SOURCE}, edit("m.py", ("return 1", "return 5"), expected_sha256=wrong)
    )
    assert stale.code is OutputCode.STALE_HASH and f"now {digest[:16]}," in (stale.error or "")
