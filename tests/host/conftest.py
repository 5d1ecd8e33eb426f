"""Fixtures shared by the host tests: both path resolvers, both ways of staging a write."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
