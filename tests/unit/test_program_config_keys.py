"""A misspelt key in program.yaml or catalog.yaml fails at start instead of being ignored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from gifting.config import load_catalog, load_program
from gifting.errors import ConfigurationError
from gifting.settings import PROJECT_ROOT


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", target)
    return target


def _edit(path: Path, change: object) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


def test_shipped_config_has_no_unknown_key(config_dir: Path) -> None:
    assert load_program(config_dir).stages
    assert load_catalog(config_dir).items


def test_misspelt_budget_cap_names_the_key(config_dir: Path) -> None:
    _edit(
        config_dir / "program.yaml",
        lambda document: document["budget_caps"].update(monthly_budjet_usd=1000),
    )
    with pytest.raises(ConfigurationError, match="monthly_budjet_usd"):
        load_program(config_dir)


def test_misspelt_stage_key_names_the_key(config_dir: Path) -> None:
    _edit(config_dir / "program.yaml", lambda document: document["stages"][0].update(windw=24))
    with pytest.raises(ConfigurationError, match=r"stages\.0\.windw"):
        load_program(config_dir)


def test_misspelt_catalog_key_names_the_key(config_dir: Path) -> None:
    _edit(config_dir / "catalog.yaml", lambda document: document["items"][0].update(prize=10))
    with pytest.raises(ConfigurationError, match="prize"):
        load_catalog(config_dir)
