"""Helpers of the checkpoint tests: ``sa3p`` as a real process, a workspace's files as values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SA3P = [sys.executable, "-m", "sa3p_host"]


def sa3p(
    *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``sa3p ARGS`` as its own process; text in, text out."""
    done = subprocess.run(
        [*SA3P, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def run_reply(workspace: Path, reply: str, *options: str) -> list[dict[str, object]]:
    """``sa3p run`` of ``reply`` on ``workspace`` (ephemeral and unconfined unless ``options``
    say otherwise): the JSON results."""
    where = options or ("--ephemeral", "--sandbox", "none")
    done = sa3p("run", "--workspace", str(workspace), "--json", *where, stdin=reply)
    return [json.loads(line) for line in done.stdout.splitlines()]


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every file and symlink below ``root`` (not ``.git``): kind, permission bits, content
    (a symlink's target)."""
    found: dict[str, tuple[str, int, bytes]] = {}
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if name != ".git"]
        for name in files + [
            d for d in subdirectories if os.path.islink(os.path.join(directory, d))
        ]:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            info = os.lstat(path)
            if os.path.islink(path):
                found[relative] = ("link", 0, os.fsencode(os.readlink(path)))
            else:
                found[relative] = ("file", info.st_mode & 0o7777, Path(path).read_bytes())
    return found
