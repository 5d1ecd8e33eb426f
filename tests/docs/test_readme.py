"""The README's examples run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_async_example_runs_as_written(tmp_path: Path) -> None:
    [example] = [block for block in _python_blocks() if "AsyncEngine" in block]
    (tmp_path / "repo").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", example],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    assert "[write_file hello.txt] ok: created" in done.stdout
    assert "[terminal cat hello.txt] exit code 0" in done.stdout
    assert "\nhi\n" in done.stdout
    assert (tmp_path / "repo" / "hello.txt").read_bytes() == b"hi\n"


def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    """The quick start's shell block, with its install line skipped and ``.venv/bin/sa3p`` the
    sa3p under test: both turns run, and the second one fixes what the first one found."""
    quick_start = README.read_text().split("## Quick start", 1)[1]
    [block] = re.findall(r"```sh\n(.*?)```", quick_start, flags=re.DOTALL)[:1]
    script = "set -e\n" + "\n".join(
        line for line in block.splitlines() if "pip install" not in line
    ).replace(".venv/bin/sa3p", f"{sys.executable} -m sa3p_host")
    done = subprocess.run(
        ["bash", "-c", script],
        check=False,
        cwd=README.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split("\n[state]\n")[:2]
    assert "exit code 1" in first and "FAILED (failures=2)" in first
    assert "[apply_edit textstats/wordcount.py] ok" in second and second.rstrip().endswith("OK")
