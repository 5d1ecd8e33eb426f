"""REFERENCE items 7-13: apply_edit as a model really writes it, through `sa3p run` and in-process.

7. indentation / trailing-whitespace drift; 8. the same search text twice; 9. one of several
edits failing; 10. `$&`, `\\1`, `\\g<0>` in replacements; 11. CRLF files and Makefile tabs;
12. empty search; 13. a file changed since the model read it. Then: fenced diffs with wrong
context, unrecognised markers, misspelt attributes, expected_replacements and apply_patch on
real files.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from sa3p_engine import ApplyEditOutput, CommandOutput, EditTier, Engine
from sa3p_host import LocalTerminal, LocalVfs
from sa3p_parser import InstructionParser, ParserConfig

from .e2e_support import files_in, random_chunks, run_cli, run_in_process

SERVICE = (
    b"class Service:\n"
    b"    def start(self):   \n"
    b"        self.running = True\n"
    b"        return self.running\n"
    b"\n"
    b"    def stop(self):\n"
    b"        self.running = False\n"
    b"        return self.running\n"
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _edit(path: str, *pairs: tuple[str, str], sha: str | None = None) -> bytes:
    attributes = f' expected_sha256="{sha}"' if sha else ""
    body = "".join(f"<search>\n{s}</search>\n<replace>\n{r}</replace>\n" for s, r in pairs)
    return f'<apply_edit path="{path}"{attributes}>\n{body}</apply_edit>\n'.encode()


# --- 7 -----------------------------------------------------------------------------------------


def test_indentation_and_trailing_whitespace_drift_still_match(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_bytes(SERVICE)
    # The model dropped the class indentation and the trailing spaces of `def start(self):`.
    reply = b"Fixing start():\n" + _edit(
        "service.py",
        (
            "def start(self):\n    self.running = True\n    return self.running\n",
            "def start(self):\n    self.running = True\n    self.log('started')\n"
            "    return self.running\n",
        ),
    )
    run = run_cli(tmp_path, reply, "--json")
    (output,) = run.outputs
    assert output["ok"], output["error"]
    assert [edit["tier"] for edit in output["edits"]] == ["whitespace"]
    assert (tmp_path / "service.py").read_bytes() == SERVICE.replace(
        b"        return self.running\n\n",
        b"        self.log('started')\n        return self.running\n\n",
    ).replace(b"    def start(self):   \n", b"    def start(self):\n")


def test_a_drifted_search_in_a_deeper_block_is_reindented_in_process(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_bytes(SERVICE)
    reply = _edit(
        "service.py", ("          self.running = False\n", "          self.running = None\n")
    )
    run = run_in_process(tmp_path, random_chunks(reply, seed=7, largest=5))
    (output,) = run.turn.outputs
    assert isinstance(output, ApplyEditOutput), output.render()
    assert output.edits[0].tier is EditTier.WHITESPACE
    assert b"        self.running = None\n" in (tmp_path / "service.py").read_bytes()


# --- 8 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "tier"),
    [
        ("        return self.running\n", "exact"),
        ("return self.running\n", "exact"),
        ("  return self.running  \n", "exact"),
    ],
)
def test_duplicate_search_text_is_refused_with_every_candidate(
    tmp_path: Path, search: str, tier: str
) -> None:
    (tmp_path / "service.py").write_bytes(SERVICE)
    run = run_cli(tmp_path, _edit("service.py", (search, "        return None\n")), "--json")
    (output,) = run.outputs
    assert not output["ok"]
    assert "ambiguous" in output["error"]
    assert f"({tier} tier)" in output["error"] or "whitespace tier" in output["error"]
    assert "lines 4, 8" in output["error"] or "lines 4-4, 8-8" in output["error"]
    assert (tmp_path / "service.py").read_bytes() == SERVICE


def test_duplicate_blocks_at_different_indentation_are_ambiguous(tmp_path: Path) -> None:
    source = b"if a:\n    x = 1\n    y = 2\nelse:\n        x = 1\n        y = 2\n"
    (tmp_path / "m.py").write_bytes(source)
    run = run_in_process(tmp_path, [_edit("m.py", ("  x = 1\n  y = 2\n", "  x = 3\n  y = 4\n"))])
    (output,) = run.turn.outputs
    assert not output.ok
    assert "ambiguous" in (output.error or "")
    assert "2-3" in (output.error or "") and "5-6" in (output.error or "")
    assert (tmp_path / "m.py").read_bytes() == source


# --- 9 -----------------------------------------------------------------------------------------


def test_one_failing_edit_of_three_applies_none_and_is_named(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_bytes(SERVICE)
    reply = _edit(
        "service.py",
        ("class Service:\n", "class Service(Base):\n"),
        ("    def restart(self):\n", "    def restart(self, force):\n"),
        ("    def stop(self):\n", "    def stop(self, now=False):\n"),
    )
    run = run_cli(tmp_path, reply, "--json")
    (output,) = run.outputs
    assert not output["ok"]
    assert output["error"].startswith("edit 2 of 3: no match")
    assert "No edit was applied" in output["error"]
    assert (tmp_path / "service.py").read_bytes() == SERVICE


@pytest.mark.parametrize(
    "body",
    [
        # conflict markers, the second block failing
        "<<<<<<< SEARCH\nclass Service:\n=======\nclass Service(Base):\n>>>>>>> REPLACE\n"
        "<<<<<<< SEARCH\n    def restart(self):\n=======\n    def go(self):\n>>>>>>> REPLACE\n",
        # a unified diff, the second hunk failing
        "--- a/service.py\n+++ b/service.py\n@@ -1,1 +1,1 @@\n-class Service:\n+class S:\n"
        "@@ -20,1 +20,1 @@\n-    def restart(self):\n+    def go(self):\n",
    ],
    ids=["conflict-markers", "unified-diff"],
)
def test_other_formats_are_all_or_nothing_too(tmp_path: Path, body: str) -> None:
    (tmp_path / "service.py").write_bytes(SERVICE)
    reply = f'<apply_edit path="service.py">\n{body}</apply_edit>\n'.encode()
    run = run_in_process(tmp_path, [reply])
    (output,) = run.turn.outputs
    assert not output.ok
    assert (output.error or "").startswith("edit 2 of 2")
    assert (tmp_path / "service.py").read_bytes() == SERVICE


def test_each_pair_sees_the_previous_ones_and_reports_its_lines(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_bytes(SERVICE)
    reply = _edit(
        "service.py",
        ("class Service:\n", '"""Docs."""\n\n\nclass Service:\n'),
        ("    def stop(self):\n", "    def stop(self):\n        self.flush()\n"),
    )
    run = run_in_process(tmp_path, [reply])
    (output,) = run.turn.outputs
    assert isinstance(output, ApplyEditOutput), output.render()
    assert [(e.index, e.start_line, e.end_line) for e in output.edits] == [(1, 1, 4), (2, 9, 10)]
    assert output.sha256 == _sha((tmp_path / "service.py").read_bytes())


# --- 10 ----------------------------------------------------------------------------------------


def test_regex_syntax_in_replacements_and_searches_stays_literal(tmp_path: Path) -> None:
    source = b"PATTERN = r'(\\w+)@(\\w+)'\nTEMPLATE = 'x'\n"
    (tmp_path / "re_util.py").write_bytes(source)
    replacement = "TEMPLATE = r'$& $1 \\1 \\g<0> \\g<name> \\\\ \\n ${x} $$'\n"
    reply = _edit(
        "re_util.py",
        ("PATTERN = r'(\\w+)@(\\w+)'\n", "PATTERN = r'(.*)\\1$'\n"),
        ("TEMPLATE = 'x'\n", replacement),
    )
    run = run_cli(tmp_path, reply, "--json")
    (output,) = run.outputs
    assert output["ok"], output["error"]
    assert (tmp_path / "re_util.py").read_bytes() == (
        b"PATTERN = r'(.*)\\1$'\n" + replacement.encode()
    )


# --- 11 ----------------------------------------------------------------------------------------

MAKEFILE = (
    b"CC ?= gcc\n\n"
    b"all: build\n\n"
    b"build: main.c util.c\n"
    b"\t$(CC) -Wall -o application main.c util.c\n"
    b"\t@echo build finished\n\n"
    b"clean:\n\trm -f application\n"
)


def test_crlf_file_edited_with_lf_search_stays_crlf(tmp_path: Path) -> None:
    source = b"[core]\r\n\tautocrlf = true\r\n\teol = crlf\r\n[user]\r\n\tname = A\r\n"
    (tmp_path / "config.ini").write_bytes(source)
    reply = _edit("config.ini", ("\teol = crlf\n[user]\n", "\teol = lf\n\n[user]\n"))
    run = run_cli(tmp_path, reply, "--json")
    (output,) = run.outputs
    assert output["ok"], output["error"]
    data = (tmp_path / "config.ini").read_bytes()
    assert data == b"[core]\r\n\tautocrlf = true\r\n\teol = lf\r\n\r\n[user]\r\n\tname = A\r\n"


def test_crlf_reply_and_crlf_file(tmp_path: Path) -> None:
    # The model's own output uses CRLF (a Windows client): the file must not get doubled \r.
    source = b"a = 1\r\nb = 2\r\n"
    (tmp_path / "w.py").write_bytes(source)
    reply = _edit("w.py", ("b = 2\n", "b = 3\n")).replace(b"\n", b"\r\n")
    run = run_in_process(tmp_path, [reply])
    assert [o.ok for o in run.turn.outputs] == [True], run.turn.render()
    assert (tmp_path / "w.py").read_bytes() == b"a = 1\r\nb = 3\r\n"


def test_makefile_tabs_survive_an_exact_edit(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_bytes(MAKEFILE)
    reply = _edit(
        "Makefile",
        (
            "\t$(CC) -Wall -o application main.c util.c\n",
            "\t$(CC) -Wall -O2 -o application main.c util.c\n",
        ),
    )
    run = run_cli(tmp_path, reply, "--json")
    assert run.outputs[0]["ok"], run.outputs[0]["error"]
    assert (tmp_path / "Makefile").read_bytes() == MAKEFILE.replace(b"-Wall", b"-Wall -O2")


@pytest.mark.parametrize("width", [2, 4, 8])
def test_makefile_tabs_survive_a_search_written_with_spaces(tmp_path: Path, width: int) -> None:
    # Models often turn tabs into spaces. The edit must still land, and the recipe lines must
    # keep their tabs: a space-indented recipe breaks make ("missing separator").
    (tmp_path / "Makefile").write_bytes(MAKEFILE)
    pad = " " * width
    search = (
        f"build: main.c util.c\n{pad}$(CC) -Wall -o application main.c util.c\n"
        f"{pad}@echo build finished\n"
    )
    replace = search.replace("-Wall", "-Wall -O2")
    run = run_in_process(tmp_path, [_edit("Makefile", (search, replace))])
    (output,) = run.turn.outputs
    assert output.ok, output.render()
    assert (tmp_path / "Makefile").read_bytes() == MAKEFILE.replace(b"-Wall", b"-Wall -O2")


def test_makefile_short_space_indented_search_matches_with_tabs(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_bytes(MAKEFILE)
    reply = _edit("Makefile", ("clean:\n    rm -f application\n", "clean:\n    rm -rf build\n"))
    run = run_in_process(tmp_path, [reply])
    (output,) = run.turn.outputs
    assert output.ok, output.render()
    assert (tmp_path / "Makefile").read_bytes() == MAKEFILE.replace(
        b"rm -f application", b"rm -rf build"
    )


# --- 12 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "<search></search><replace>x</replace>",
        "<search>\n</search><replace>x</replace>",
        "<search>   \n\t\n</search><replace>x</replace>",
        "<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n",
    ],
    ids=["empty", "newline", "whitespace", "markers"],
)
def test_empty_search_is_refused_and_nothing_changes(tmp_path: Path, body: str) -> None:
    (tmp_path / "service.py").write_bytes(SERVICE)
    reply = f'<apply_edit path="service.py">{body}</apply_edit>'.encode()
    run = run_cli(tmp_path, reply, "--json")
    (output,) = run.outputs
    assert not output["ok"]
    assert "empty" in output["error"]
    assert (tmp_path / "service.py").read_bytes() == SERVICE


# --- 13 ----------------------------------------------------------------------------------------


def test_an_edit_on_a_file_changed_since_it_was_read_is_refused(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_bytes(SERVICE)
    read_hash = _sha(SERVICE)  # what the model saw in its read_file
    reply = (
        b"Format first, then edit.\n"
        b"<terminal>printf '# formatted\\n' >> service.py</terminal>\n"
        + _edit("service.py", ("class Service:\n", "class Service(Base):\n"), sha=read_hash)
    )
    run = run_cli(tmp_path, reply, "--json")
    terminal, edit = run.outputs
    assert terminal["ok"] and terminal["exit_code"] == 0
    assert not edit["ok"]
    changed = SERVICE + b"# formatted\n"
    assert edit["error"].startswith("stale file")
    assert _sha(changed)[:16] in edit["error"] and read_hash[:16] in edit["error"]
    assert (tmp_path / "service.py").read_bytes() == changed


def test_an_edit_with_the_current_hash_applies(tmp_path: Path) -> None:
    (tmp_path / "service.py").write_bytes(SERVICE)
    reply = b'<read_file path="service.py" start_line="1" end_line="2"/>\n' + _edit(
        "service.py", ("class Service:\n", "class Service(Base):\n"), sha=_sha(SERVICE)
    )
    run = run_cli(tmp_path, reply, "--json")
    read, edit = run.outputs
    assert read["sha256"] == _sha(SERVICE)
    assert edit["ok"], edit["error"]
    assert edit["sha256"] == _sha((tmp_path / "service.py").read_bytes())


def test_makefile_tabs_survive_a_fuzzy_edit_written_with_spaces(tmp_path: Path) -> None:
    # A typo in the search (finishd) forces the fuzzy tier; the recipe keeps its tabs there too.
    (tmp_path / "Makefile").write_bytes(MAKEFILE)
    search = (
        "build: main.c util.c\n    $(CC) -Wall -o application main.c util.c\n"
        "    @echo build finishd\n"
    )
    replace = search.replace("-Wall", "-Wall -O2").replace("finishd", "finished")
    run = run_in_process(tmp_path, [_edit("Makefile", (search, replace))])
    (output,) = run.turn.outputs
    assert isinstance(output, ApplyEditOutput), output.render()
    assert output.edits[0].tier is EditTier.FUZZY
    assert (tmp_path / "Makefile").read_bytes() == MAKEFILE.replace(b"-Wall", b"-Wall -O2")


def test_a_space_indented_file_edited_with_a_tab_indented_search_keeps_spaces(
    tmp_path: Path,
) -> None:
    (tmp_path / "service.py").write_bytes(SERVICE)
    search = "\tdef stop(self):\n\t\tself.running = False\n"
    replace = "\tdef stop(self):\n\t\tself.running = False\n\t\tself.stopped = True\n"
    run = run_in_process(tmp_path, [_edit("service.py", (search, replace))])
    (output,) = run.turn.outputs
    assert output.ok, output.render()
    assert (tmp_path / "service.py").read_bytes() == SERVICE.replace(
        b"        self.running = False\n",
        b"        self.running = False\n        self.stopped = True\n",
    )


@pytest.mark.parametrize(
    ("source", "body", "expected"),
    [
        (
            b"x = 1\r\ny = 2\r\nz = 3\r\n",
            b"<search>y = 2</search><replace>y = 2\nw = 4</replace>",
            b"x = 1\r\ny = 2\r\nw = 4\r\nz = 3\r\n",
        ),
        (
            b"a = 1\nb = 2\n",
            b"<search>b = 2</search><replace>b = 2\r\nc = 3</replace>",
            b"a = 1\nb = 2\nc = 3\n",
        ),
    ],
    ids=["lf-replacement-in-crlf-file", "crlf-replacement-in-lf-file"],
)
def test_a_multi_line_replacement_of_a_one_line_search_keeps_the_file_line_endings(
    tmp_path: Path, source: bytes, body: bytes, expected: bytes
) -> None:
    (tmp_path / "f.py").write_bytes(source)
    run = run_in_process(tmp_path, [b'<apply_edit path="f.py">' + body + b"</apply_edit>"])
    assert [o.ok for o in run.turn.outputs] == [True]
    assert (tmp_path / "f.py").read_bytes() == expected


def test_the_reported_diff_shows_only_what_changed(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_bytes(b"zero\r\none\r\ntwo\r\nthree\r\nfour\r\n")
    reply = b'<apply_edit path="c.txt">\n@@ -2,3 +2,3 @@\n one\n-two\n+TWO\n three\n</apply_edit>'
    run = run_in_process(tmp_path, [reply])
    (output,) = run.turn.outputs
    assert isinstance(output, ApplyEditOutput), output.render()
    assert output.diff == "@@ -1,5 +1,5 @@\n zero\n one\n-two\n+TWO\n three\n four"
    assert (tmp_path / "c.txt").read_bytes() == b"zero\r\none\r\nTWO\r\nthree\r\nfour\r\n"


_RECIPE_LINE = st.from_regex(r"[a-z][a-z0-9_ .=$()@-]{3,30}", fullmatch=True)


@settings(max_examples=30, deadline=None)
@given(
    lines=st.lists(st.tuples(st.integers(0, 2), _RECIPE_LINE), min_size=4, max_size=12),
    pick=st.data(),
    width=st.sampled_from([2, 4, 8]),
)
def test_tab_indented_files_keep_their_tabs_whatever_the_search_indentation(
    lines: list[tuple[int, str]], pick: st.DataObject, width: int
) -> None:
    content = "".join("\t" * depth + text.strip() + "\n" for depth, text in lines)
    start = pick.draw(st.integers(0, len(lines) - 2))
    size = pick.draw(st.integers(1, min(3, len(lines) - start)))
    chosen = lines[start : start + size]
    region = "".join("\t" * depth + text.strip() + "\n" for depth, text in chosen)
    assume(content.count(region) == 1)
    as_spaces = "".join(" " * width * depth + text.strip() + "\n" for depth, text in chosen)
    replacement = as_spaces.replace("\n", " # edited\n", 1)
    with tempfile.TemporaryDirectory() as top:
        Path(top, "Makefile").write_text(content)
        run = run_in_process(Path(top), [_edit("Makefile", (as_spaces, replacement))])
        (output,) = run.turn.outputs
        event("applied" if output.ok else "refused")
        if output.ok:  # a short search may be ambiguous up to whitespace: refused, never wrong
            expected = region.replace("\n", " # edited\n", 1)
            assert Path(top, "Makefile").read_text() == content.replace(region, expected)
        else:
            assert Path(top, "Makefile").read_text() == content
            assert "ambiguous" in (output.error or "") or "no match" in (output.error or "")


# --- edits that are never silently wrong (issue: edits in the formats models are trained on) --

COMPUTE = (
    b"import os\n\n\ndef compute(a, b):\n    total = a + b\n    scaled = total * FACTOR\n"
    b"    return scaled\n"
)


def test_a_fenced_diff_with_wrong_context_changes_only_its_lines(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_bytes(COMPUTE)
    reply = (
        b'I will double it:\n<apply_edit path="m.py">\n```diff\n--- a/m.py\n+++ b/m.py\n'
        b"@@ -4,4 +4,4 @@\n def compute(x, y):\n     total = a + b\n"
        b"-    scaled = total * FACTOR\n+    scaled = total * FACTOR * 2\n     return scaled\n"
        b"```\n</apply_edit>\n"
    )
    run = run_cli(tmp_path, reply, "--json")
    (output,) = run.outputs
    assert output["ok"], output["error"]
    assert (tmp_path / "m.py").read_bytes() == COMPUTE.replace(b"FACTOR\n", b"FACTOR * 2\n")


def test_an_unrecognised_marker_refuses_every_block_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_bytes(COMPUTE)
    body = (
        "<<<<<<< SEARCH\n    total = a + b\n=======\n    total = a - b\n>>>>>>> REPLACE\n"
        "<<<< SEARCH\n    return scaled\n=======\n    return -scaled\n>>>>>>> REPLACE\n"
    )
    reply = f'<apply_edit path="m.py">\n{body}</apply_edit>\n'.encode()
    run = run_cli(tmp_path, reply, "--json")
    (output,) = run.outputs
    assert not output["ok"] and "line 7 of the body" in output["error"]
    assert (output["line"], output["column"]) == (1, 1)
    assert "FAILED (line 1, column 1)" in output["rendered"]
    assert (tmp_path / "m.py").read_bytes() == COMPUTE


def test_a_misspelt_terminal_attribute_is_refused_not_run(tmp_path: Path) -> None:
    run = run_cli(tmp_path, b'\n<terminal timeout_s="120">touch ran.txt</terminal>\n', "--json")
    (output,) = run.outputs
    assert not output["ok"] and 'timeout_s="120"' in output["error"]
    assert output["line"] == 2
    assert not (tmp_path / "ran.txt").exists()


def test_expected_replacements_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "log.py").write_bytes(b"log(1)\nrun()\nlog(1)\n")
    reply = (
        b'<apply_edit path="log.py" expected_replacements="2">\n<search>log(1)</search>\n'
        b"<replace>log(2)</replace>\n</apply_edit>\n"
    )
    run = run_cli(tmp_path, reply, "--json")
    (output,) = run.outputs
    assert output["ok"], output["error"]
    assert output["edits"][0]["ranges"] == [[1, 1], [3, 3]]
    assert (tmp_path / "log.py").read_bytes() == b"log(2)\nrun()\nlog(2)\n"


PATCH_CONFIG = ParserConfig(
    command_tags=ParserConfig().command_tags | {"apply_patch"},
    raw_tags=ParserConfig().raw_tags | {"apply_patch"},
)


def _patch_in_process(workspace: Path, chunks: list[bytes]) -> list[CommandOutput]:
    """The parser (configured with apply_patch as a raw command) → Engine → LocalVfs."""
    parser = InstructionParser(PATCH_CONFIG)
    with Engine(LocalVfs(workspace), LocalTerminal(workspace)) as engine:
        instructions = [item for chunk in chunks for item in parser.feed(chunk)]
        return list(engine.execute_turn([*instructions, *parser.finish()]).outputs)


def test_apply_patch_on_local_files_in_any_chunking(tmp_path: Path) -> None:
    reply = (
        b"<apply_patch>\n*** Begin Patch\n*** Update File: m.py\n@@ def compute(a, b):\n"
        b"-    total = a + b\n+    total = a - b\n*** Add File: pkg/notes.md\n+# Notes\n"
        b"+\n+CRLF stays: see w.txt\n*** Update File: w.txt\n one\n-two\n+deux\n"
        b"*** End Patch\n</apply_patch>\n"
    )
    for seed in range(3):
        workspace = tmp_path / str(seed)
        workspace.mkdir()
        (workspace / "m.py").write_bytes(COMPUTE)
        (workspace / "w.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
        (output,) = _patch_in_process(workspace, random_chunks(reply, seed=seed, largest=9))
        assert output.ok, output.render()
        assert (workspace / "m.py").read_bytes() == COMPUTE.replace(b"a + b", b"a - b")
        assert (workspace / "pkg/notes.md").read_bytes() == b"# Notes\n\nCRLF stays: see w.txt\n"
        assert (workspace / "w.txt").read_bytes() == b"one\r\ndeux\r\nthree\r\n"


def test_a_refused_apply_patch_leaves_every_local_file_alone(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_bytes(COMPUTE)
    reply = (
        b"<apply_patch>\n*** Begin Patch\n*** Add File: new.txt\n+x\n*** Update File: m.py\n"
        b"-    not in the file\n+    y\n*** End Patch\n</apply_patch>\n"
    )
    (output,) = _patch_in_process(tmp_path, [reply])
    assert not output.ok and "Nothing was changed" in (output.error or "")
    assert files_in(tmp_path) == {"m.py": COMPUTE}
