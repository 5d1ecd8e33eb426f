"""For the checkpoint tests: a private ``XDG_STATE_HOME`` (never the user's), a workspace, and
its checkpoint store, watched or walked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sa3p_host import Checkpoints
from sa3p_host._workspace_tree import WorkspaceWatch


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "state"
    home.mkdir()
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    yield home


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture(params=["watched", "walked"])
def store(
    request: pytest.FixtureRequest, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Checkpoints]:
    """One object across turns; "walked": without inotify, so every turn walks everything."""
    if request.param == "walked":
        monkeypatch.setattr(WorkspaceWatch, "open", classmethod(lambda cls: None))
    with Checkpoints(workspace) as checkpoints:
        yield checkpoints
