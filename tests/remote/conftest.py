"""Fixtures: real guests (see ``helpers``)."""

import pytest

from .helpers import any_guest, tcp_guest, unix_guest, workspace

__all__ = ["any_guest", "tcp_guest", "unix_guest", "workspace"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
