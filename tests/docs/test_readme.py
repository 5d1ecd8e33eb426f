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
