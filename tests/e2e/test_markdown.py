"""REFERENCE item 4: commands the model only quotes in markdown code are shown, never run."""

from __future__ import annotations

from pathlib import Path

from sa3p_engine import NoticeOutput, TerminalOutput

from .e2e_support import files_in, random_chunks, run_cli, run_in_process

EXPLAINING_REPLY = b"""To clean up you would run `<terminal>touch inline-ran</terminal>`, but
I won't. For reference, a write looks like:

```xml
<write_file path="fenced-write.txt">example</write_file>
<terminal>touch fenced-ran</terminal>
```

~~~
<apply_edit path="notes.txt"><search>keep</search><replace>gone</replace></apply_edit>
~~~

Double backticks too: ``<terminal>touch double-ran</terminal>``.
Now for real:
<terminal>touch really-ran</terminal>
"""


def _check(workspace: Path) -> None:
    assert files_in(workspace) == {"notes.txt": b"keep\n", "really-ran": b""}


def test_quoted_commands_are_notices_and_only_the_real_one_runs_in_the_cli(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_bytes(b"keep\n")
    run = run_cli(tmp_path, EXPLAINING_REPLY, "--json")
    assert run.returncode == 0, run.stderr
    notices = [o for o in run.outputs if o["rendered"].startswith("[notice]")]
    assert [(n["command"], n["ok"]) for n in notices] == [
        ("terminal", False),
        ("write_file", False),
        ("terminal", False),
        ("apply_edit", False),
        ("terminal", False),
    ]
    assert "inline code span" in notices[0]["error"]
    assert "line 1" in notices[0]["error"]
    assert "fenced code block" in notices[1]["error"]
    assert "line 5" in notices[1]["error"]
    ran = [o for o in run.outputs if o["ok"]]
    assert [(o["command"], o["subject"], o["exit_code"]) for o in ran] == [
        ("terminal", "touch really-ran", 0)
    ]
    _check(tmp_path)


def test_quoting_holds_at_any_chunking_in_process(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_bytes(b"keep\n")
    run = run_in_process(tmp_path, random_chunks(EXPLAINING_REPLY, seed=44, largest=4))
    kinds = [type(o) for o in run.turn.outputs]
    assert kinds == [NoticeOutput] * 5 + [TerminalOutput]
    _check(tmp_path)


def test_a_fence_that_is_never_closed_keeps_quoting_to_the_end(tmp_path: Path) -> None:
    reply = b"Example:\n```sh\n<terminal>touch ran</terminal>\n"
    run = run_in_process(tmp_path, [reply])
    assert [type(o) for o in run.turn.outputs] == [NoticeOutput]
    assert files_in(tmp_path) == {}


def test_backticks_inside_a_body_do_not_start_markdown(tmp_path: Path) -> None:
    # Raw bodies are not markdown: a shell command with backticks and a file with a fence run.
    reply = (
        b"<terminal>echo `echo inner` > out.txt</terminal>\n"
        b'<write_file path="README.md">\n```\n<terminal>x</terminal>\n```\n</write_file>\n'
        b"<terminal>touch after</terminal>\n"
    )
    run = run_in_process(tmp_path, [reply])
    assert [o.ok for o in run.turn.outputs] == [True, True, True]
    assert files_in(tmp_path) == {
        "README.md": b"```\n<terminal>x</terminal>\n```\n",
        "after": b"",
        "out.txt": b"inner\n",
    }


def test_a_fence_nested_in_a_list_item_is_still_code(tmp_path: Path) -> None:
    reply = (
        b"To reset your checkout:\n\n"
        b"1. Stash your work.\n"
        b"2. Then run:\n\n"
        b"    ```bash\n"
        b"    <terminal>touch list-fence-ran</terminal>\n"
        b"    ```\n\n"
        b"I won't run that myself.\n"
    )
    run = run_in_process(tmp_path, [reply])
    assert [type(o) for o in run.turn.outputs] == [NoticeOutput]
    assert files_in(tmp_path) == {}


def test_triple_backticks_on_one_line_are_an_inline_span_not_a_fence(tmp_path: Path) -> None:
    reply = (
        b"```<terminal>touch shown</terminal>```\nNow for real: <terminal>touch ran</terminal>\n"
    )
    run = run_in_process(tmp_path, [reply])
    assert [type(o) for o in run.turn.outputs] == [NoticeOutput, TerminalOutput]
    assert "inline code span" in (run.turn.outputs[0].error or "")
    assert files_in(tmp_path) == {"ran": b""}
