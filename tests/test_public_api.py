"""Every exported name of every package imports, and every package is typed."""

from __future__ import annotations

import importlib
from importlib import resources

import pytest

PACKAGES = ["sa3p_parser", "sa3p_engine", "sa3p_host", "sa3p_protocol"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", [])
    missing = [name for name in exported if not hasattr(module, name)]
    assert missing == []
    assert sorted(exported) == sorted(set(exported))


@pytest.mark.parametrize("package", PACKAGES)
def test_package_ships_py_typed(package: str) -> None:
    assert resources.files(package).joinpath("py.typed").is_file()
