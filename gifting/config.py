"""Program configuration: stages, holdout, budgets and the gift catalog, read from ``config/``.

Everything is validated when a flow starts, so a typo fails the run at once with the file and the
entry to fix, instead of failing a gift later.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from gifting.errors import ConfigurationError

CATEGORIES = {"celebration", "gourmet", "premium", "useful", "branded", "experience", "donation"}


class HoldoutConfig(BaseModel):
    share: float = Field(0.10, ge=0.0, lt=1.0)
    salt: str = Field("gifting-holdout-v1", min_length=1)


class StageConfig(BaseModel):
    """One milestone of the program, such as the day-7 ``first_week`` gift."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    offset_days: int = Field(ge=0)
    window_hours: int = Field(gt=0)
    budget_usd: tuple[Decimal, Decimal]
    purpose: str
    categories: list[str] = Field(min_length=1)
    template: str

    @field_validator("budget_usd")
    @classmethod
    def _check_budget(cls, value: tuple[Decimal, Decimal]) -> tuple[Decimal, Decimal]:
        low, high = value
        if not 0 < low <= high:
            raise ValueError(f"invalid budget {low}–{high}: expected 0 < minimum <= maximum")
        return value

    @field_validator("categories")
    @classmethod
    def _check_categories(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories {unknown}; expected some of {sorted(CATEGORIES)}")
        return value


class ProgramConfig(BaseModel):
    holdout: HoldoutConfig = HoldoutConfig()
    monthly_budget_usd: Decimal = Field(Decimal(250000), gt=0)
    stages: list[StageConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_unique_stage_names(self) -> ProgramConfig:
        names = [stage.name for stage in self.stages]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate stage names {duplicates}: each stage needs its own name")
        return self


class CatalogItem(BaseModel):
    sku: str = Field(min_length=1)
    name: str
    price: Decimal = Field(gt=0)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    categories: list[str] = Field(min_length=1)
    restrictions: list[str] = []
    ships_to: list[str] = ["*"]
    lead_time_days: int = Field(0, ge=0)
    kind: Literal["physical", "egift"]

    def ships_to_country(self, country: str | None) -> bool:
        return "*" in self.ships_to or (country is not None and country.upper() in self.ships_to)


class Catalog(BaseModel):
    items: list[CatalogItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_unique_skus(self) -> Catalog:
        skus = [item.sku for item in self.items]
        duplicates = sorted({sku for sku in skus if skus.count(sku) > 1})
        if duplicates:
            raise ValueError(f"duplicate SKUs {duplicates}")
        return self


def _load_yaml(path: Path) -> object:
    if not path.exists():
        raise ConfigurationError(f"config file {path} not found: set GIFTING_CONFIG_DIR")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigurationError(f"config file {path} is not valid YAML: {error}") from error


def _validate(model: type[BaseModel], path: Path) -> BaseModel:
    try:
        return model.model_validate(_load_yaml(path))
    except ValidationError as error:
        raise ConfigurationError(f"config file {path} is invalid:\n{error}") from error


def load_program(config_dir: Path) -> ProgramConfig:
    """Read and validate ``program.yaml``, and check that every stage's template exists."""
    program = _validate(ProgramConfig, config_dir / "program.yaml")
    assert isinstance(program, ProgramConfig)
    for stage in program.stages:
        template = config_dir / "templates" / stage.template
        if not template.exists():
            raise ConfigurationError(
                f"stage {stage.name!r} names template {stage.template!r}, but {template} "
                "does not exist: add the file or fix the stage's template entry"
            )
    return program


def load_catalog(config_dir: Path) -> Catalog:
    """Read and validate ``catalog.yaml``."""
    catalog = _validate(Catalog, config_dir / "catalog.yaml")
    assert isinstance(catalog, Catalog)
    return catalog
