"""A non-editable install ships every file that the code reads from config/, sql/ and migrations.

``pip install .`` copies only what ``pyproject.toml`` declares: package data for the migrations
and data files for config, templates, SQL and prefect.yaml. A file added to one of those folders
without a matching pattern would be missing from an installed ``gifting``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gifting.settings import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _declared_data_files() -> set[Path]:
    declared: set[Path] = set()
    for patterns in SETUPTOOLS["data-files"].values():
        for pattern in patterns:
            declared.update(PROJECT_ROOT.glob(pattern))
    return declared


@pytest.mark.parametrize("folder", ["config", "sql"])
def test_every_resource_file_is_shipped(folder: str) -> None:
    present = {path for path in (PROJECT_ROOT / folder).rglob("*") if path.is_file()}
    assert present
    assert sorted(map(str, present - _declared_data_files())) == []


def test_prefect_yaml_is_shipped() -> None:
    assert PROJECT_ROOT / "prefect.yaml" in _declared_data_files()


def test_data_files_keep_their_folders() -> None:
    for target, patterns in SETUPTOOLS["data-files"].items():
        for pattern in patterns:
            assert target == "share/gifting/" + str(Path(pattern).parent).removeprefix(".") or (
                target == "share/gifting" and "/" not in pattern
            ), (target, pattern)


def test_every_migration_is_package_data() -> None:
    package = PROJECT_ROOT / "gifting" / "warehouse"
    patterns = SETUPTOOLS["package-data"]["gifting.warehouse"]
    declared = {path for pattern in patterns for path in package.glob(pattern)}
    migrations = {
        path
        for path in (package / "migrations").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert sorted(map(str, migrations - declared)) == []
