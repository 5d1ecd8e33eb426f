"""The shipped example (examples/README.md) is a real two-turn transcript: turn 1 acts and ends
after the test run it needs; turn 2, written from turn 1's actual results, fixes the bug."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .e2e_support import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_both_turns_run_against_one_workspace_and_fix_the_bug(tmp_path: Path) -> None:
    first = run_cli(tmp_path, (EXAMPLES / "fix_a_bug.txt").read_bytes(), "--json")
    assert first.returncode == 0, first.stderr
    assert all(output["ok"] for output in first.outputs), first.outputs
    *writes, tests = first.outputs
    assert {output["command"] for output in writes} == {"write_file"}
    assert tests["command"] == "terminal"  # the turn ends at the result it needs
    assert tests["exit_code"] == 1  # pipefail: the failure is not hidden by the pipe
    assert "FAILED (failures=2)" in tests["output"]
    assert "AssertionError: 1 != 0" in tests["output"]  # what turn 2 says it read
    assert "AssertionError: 8 != 4" in tests["output"]
    written = hashlib.sha256((tmp_path / "textstats/wordcount.py").read_bytes()).hexdigest()
    turn2 = (EXAMPLES / "fix_a_bug_turn2.txt").read_bytes()
    # the 16-hex prefix of the sha256 that turn 1's state header showed
    assert f'expected_sha256="{written[:16]}"'.encode() in turn2

    second = run_cli(tmp_path, turn2, "--json")
    assert second.returncode == 0, second.stderr
    edit, rerun = second.outputs
    assert edit["command"] == "apply_edit" and edit["ok"], edit
    assert rerun["exit_code"] == 0 and rerun["output"].rstrip().endswith("OK"), rerun
    assert "return len(text.split())\n" in (tmp_path / "textstats/wordcount.py").read_text()
    assert second.header["active_pids"] == []
