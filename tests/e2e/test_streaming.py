"""REFERENCE item 16: long replies in tiny chunks, and fuzzy edits on big files, stay cheap.

No timing assertions (speed goals are benchmarks): the checks are structural (the parser never
holds more than a bounded tail, the results do not depend on chunking) and each test carries a
generous timeout that a quadratic implementation would blow through.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest

from sa3p_engine import ApplyEditOutput, EditTier, ReadFileOutput, WriteFileOutput
from sa3p_parser import ParserConfig

from .e2e_support import files_in, rendered, run_cli, run_cli_measured, run_in_process


def _module(index: int, lines: int) -> str:
    body = "".join(
        f"    total += compute_{index}_{n}(values[{n}]) if values[{n}] < limit else 0  # &amp;\n"
        for n in range(lines)
    )
    return f"def function_{index}(values, limit):\n    total = 0\n{body}    return total\n"


def _long_reply(files: int, lines: int) -> tuple[bytes, dict[str, bytes]]:
    parts: list[str] = []
    expected: dict[str, bytes] = {}
    for index in range(files):
        source = _module(index, lines)
        path = f"pkg/module_{index}.py"
        parts.append(
            f"Now module {index}; note that a < b and <em>markup</em> stay prose.\n"
            f'<write_file path="{path}">\n{source}</write_file>\n'
            f'<apply_edit path="{path}">\n<search>\n    total = 0\n</search>\n'
            f"<replace>\n    total = {index + 1}\n</replace>\n</apply_edit>\n"
            f'<read_file path="{path}" start_line="2" end_line="3"/>\n'
        )
        expected[path] = source.replace("    total = 0\n", f"    total = {index + 1}\n").encode()
    parts.append('<list_files path="pkg"/>\nAll done.\n')
    return "".join(parts).encode(), expected


@pytest.mark.timeout(120)
def test_a_long_reply_fed_one_byte_at_a_time(tmp_path: Path) -> None:
    reply, expected = _long_reply(files=20, lines=60)  # about 100 KB
    assert len(reply) > 90_000
    chunks = [reply[i : i + 1] for i in range(len(reply))]
    byte_by_byte = run_in_process(tmp_path, chunks)
    assert all(o.ok for o in byte_by_byte.turn.outputs), rendered(byte_by_byte.turn.outputs)
    assert files_in(tmp_path) == expected
    # Never more than a bounded tail is held, whatever the reply's length.
    assert byte_by_byte.max_buffered <= ParserConfig().max_tag_length
    with tempfile.TemporaryDirectory() as other:
        whole = run_in_process(Path(other), [reply])
        assert [o.render().replace(other, "") for o in whole.turn.outputs] == [
            o.render().replace(str(tmp_path), "") for o in byte_by_byte.turn.outputs
        ]
    kinds = {type(o) for o in byte_by_byte.turn.outputs}
    assert {WriteFileOutput, ApplyEditOutput, ReadFileOutput} <= kinds


@pytest.mark.timeout(120)
def test_a_long_reply_through_the_cli(tmp_path: Path) -> None:
    reply, expected = _long_reply(files=40, lines=60)
    chunks = [reply[i : i + 997] for i in range(0, len(reply), 997)]
    run = run_cli(tmp_path, chunks, "--json")
    assert run.returncode == 0, run.stderr
    assert all(o["ok"] for o in run.outputs)
    assert len(run.outputs) == 40 * 3 + 1
    assert files_in(tmp_path) == expected


def _token(number: int) -> str:
    return hashlib.sha256(str(number).encode()).hexdigest()[:24]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lines", [400, 40_000], ids=["15KB", "1.5MB"])
def test_fuzzy_edits_on_big_files_complete(tmp_path: Path, lines: int) -> None:
    source = "".join(
        f"def handler_{n}(request):\n"
        f"    return respond(request, status={n % 7}, body='{_token(n)}')\n"
        for n in range(lines // 2)
    )
    (tmp_path / "handlers.py").write_text(source)
    target = lines // 3
    # The model misremembers one line (a typo and a changed body): only the fuzzy tier finds it.
    search = (
        f"def handler_{target}(request):\n"
        f"    return respnd(request, status={target % 7}, body='{_token(target)}!')\n"
    )
    replace = f"def handler_{target}(request):\n    return redirect(request, '/new')\n"
    reply = (
        f'<apply_edit path="handlers.py">\n<search>\n{search}</search>\n'
        f"<replace>\n{replace}</replace>\n</apply_edit>\n"
    ).encode()
    run = run_in_process(tmp_path, [reply])
    (output,) = run.turn.outputs
    assert isinstance(output, ApplyEditOutput), output.render()
    assert output.edits[0].tier is EditTier.FUZZY
    assert (tmp_path / "handlers.py").read_text() == source.replace(
        f"def handler_{target}(request):\n"
        f"    return respond(request, status={target % 7}, body='{_token(target)}')\n",
        replace,
    )


@pytest.mark.timeout(120)
def test_a_64_megabyte_write_streams_in_bounded_memory(tmp_path: Path) -> None:
    block = (b"0123456789 <tag attr='&amp;'> a < b </write_fil\n" * 1400)[:65_536]
    reply = tmp_path / "reply.txt"
    with reply.open("wb") as out:
        out.write(b'Writing the fixture.\n<write_file path="fixture.bin">\n')
        for _ in range(1024):
            out.write(block)
        out.write(b'</write_file>\n<write_file path="fixture.bin">' + block * 16)  # cut off
    (tmp_path / "ws").mkdir()
    run, maxrss_kib = run_cli_measured(tmp_path / "ws", reply)
    assert run.returncode == 0
    written, cut = run.outputs
    assert (written["ok"], written["bytes_written"]) == (True, 64 * 1024 * 1024)
    digest = hashlib.sha256()
    for _ in range(1024):
        digest.update(block)
    assert written["sha256"] == digest.hexdigest()
    assert not cut["ok"] and "nothing was written" in cut["error"]
    assert [p.name for p in (tmp_path / "ws").iterdir()] == ["fixture.bin"]
    assert (tmp_path / "ws/fixture.bin").stat().st_size == 64 * 1024 * 1024
    # `sa3p run` peaks near 25 MiB here, whatever the body's size.
    assert maxrss_kib < 64 * 1024, "the body was held in memory"
