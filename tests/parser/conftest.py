"""Fixtures for the parser tests."""

from __future__ import annotations

import pytest

from .helpers import Parse, parse_all_ways


@pytest.fixture
def parse() -> Parse:
    return parse_all_ways
