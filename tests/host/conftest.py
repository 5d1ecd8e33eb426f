"""Fixtures shared by the host tests: a workspace with links of every kind, both path resolvers,
both ways of staging a write, a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sa3p_host import LocalTerminal
from sa3p_host._local import _linux_calls, _write_staging


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with ``openat2``'s fast path (where the kernel has it) and with the
    ``openat(O_NOFOLLOW)`` component walk alone."""
    if request.param == "openat2":
        _linux_calls.disable_openat2(False)
        try:
            _linux_calls.openat2(-100, ".", 0, 0)
        except _linux_calls.Openat2Unavailable:
            pytest.skip("this kernel has no openat2: only the walk exists here")
        except OSError:
            pass
    else:
        _linux_calls.disable_openat2(True)
    try:
        yield request.param
    finally:
        _linux_calls.disable_openat2(False)


@pytest.fixture(params=["unnamed", "named"])
def staging_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with ``O_TMPFILE`` staging and with the named fallback in the staging
    folder (what filesystems without ``O_TMPFILE`` get)."""
    if request.param == "named":
        monkeypatch.setattr(_write_staging, "_O_TMPFILE", None)
    return str(request.param)


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A workspace with links of every kind, and an outside directory holding a secret."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = tmp_path / "ws"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "inner.txt").write_text("inner")
    (root / "top.txt").write_text("top")
    (root / "link_out").symlink_to(outside)
    (root / "a" / "b" / "deep_up").symlink_to("../../..")
    (root / "dangling_out").symlink_to(outside / "new.txt")
    (root / "dangling_in").symlink_to("made_through_link.txt")
    (root / "link_in").symlink_to("a/b")
    (root / "abs_in").symlink_to(root / "a" / "b")
    (root / "rel_out").symlink_to("../outside")
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    (root / "link_file").symlink_to("top.txt")
    (root / "dangling").symlink_to("nowhere")
    return root, outside


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[LocalTerminal]:
    """A terminal in ``tmp_path`` keeping 1 KiB of output per result; closed afterwards."""
    local = LocalTerminal(tmp_path, output_limit=1024)
    try:
        yield local
    finally:
        local.close()
