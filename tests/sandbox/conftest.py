"""Fixtures: a working bwrap (or a skip saying why this machine has none), a workspace, a policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sa3p_host._sandbox import SandboxPolicy, SandboxUnavailable, check_sandbox, find_bwrap


@pytest.fixture(scope="session")
def bwrap() -> str:
    """The bwrap sessions would use, checked once; the tests skip where no sandbox can be made."""
    try:
        found = find_bwrap()
        check_sandbox(found)
    except SandboxUnavailable as error:
        pytest.skip(str(error))
    return found


@pytest.fixture
def workspace(tmp_path: Path) -> str:
    """An empty workspace under the host's /tmp (which the sandbox replaces by its own)."""
    path = tmp_path / "workspace"
    path.mkdir()
    return os.path.realpath(path)


@pytest.fixture
def runtime_dir(tmp_path: Path) -> str:
    """A session runtime directory outside the workspace, private to this user."""
    path = tmp_path / "runtime"
    path.mkdir(mode=0o700)
    return os.path.realpath(path)


@pytest.fixture
def policy(workspace: str, runtime_dir: str) -> SandboxPolicy:
    """The default policy: no network, default limits."""
    return SandboxPolicy(workspace=workspace, runtime_dir=runtime_dir)
