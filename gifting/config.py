"""Program configuration: stages, holdout, budgets and the gift catalog, read from ``config/``.

Everything is validated when a flow starts, so a typo fails the run at once with the file and the
entry to fix, instead of failing a gift later.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from gifting.errors import ConfigurationError

CATEGORIES = {"celebration", "gourmet", "premium", "useful", "branded", "experience", "donation"}


class ConfigModel(BaseModel):
    """Base of every config section: a key the model does not know is an error, not ignored.

    A misspelt key such as ``monthly_budjet_usd`` would otherwise leave the real setting at its
    default without a word.
    """

    model_config = ConfigDict(extra="forbid")


class HoldoutConfig(ConfigModel):
    share: float = Field(0.10, ge=0.0, lt=1.0)
    salt: str = Field("gifting-holdout-v1", min_length=1)


class StageConfig(ConfigModel):
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


class ScheduleConfig(ConfigModel):
    """When gifts are due in the recipient's local time, and how long shipping takes."""

    business_hours_start: time = time(9, 0)
    business_hours_end: time = time(17, 0)
    due_time: time = time(10, 0)
    # Stages due on the milestone day itself, even on a weekend or holiday, because their window
    # is shorter than a weekend (the welcome gift is due within 24 hours of signing).
    same_day_stages: list[str] = ["welcome"]
    # Business days between a physical gift's shipping and its arrival, used until an item is
    # chosen. Country overrides win over stage ones, which win over the default.
    default_lead_days: int = Field(3, ge=0)
    lead_days_by_stage: dict[str, int] = {}
    lead_days_by_country: dict[str, int] = {}

    @field_validator("lead_days_by_country")
    @classmethod
    def _check_countries(cls, value: dict[str, int]) -> dict[str, int]:
        for country, days in value.items():
            if len(country) != 2 or days < 0:
                raise ValueError(
                    f"invalid entry {country}: {days}; expected an ISO 3166-1 alpha-2 code "
                    "and a number of business days >= 0"
                )
        return {country.upper(): days for country, days in value.items()}

    @model_validator(mode="after")
    def _check_due_time(self) -> ScheduleConfig:
        if not self.business_hours_start <= self.due_time < self.business_hours_end:
            raise ValueError(
                f"due_time {self.due_time} is outside business hours "
                f"{self.business_hours_start}–{self.business_hours_end}: move it inside"
            )
        return self

    def lead_days(self, stage: str, country: str | None) -> int:
        """Return the planning lead time of a stage's gift to a country, in business days."""
        if country and country.upper() in self.lead_days_by_country:
            return self.lead_days_by_country[country.upper()]
        return self.lead_days_by_stage.get(stage, self.default_lead_days)


class AlignmentRule(ConfigModel):
    """Move a stage to a CRM event of ``kind`` that falls between ``from_day`` and ``to_day``.

    Days count from signing. The stage is due ``shift_days`` after the event (negative: before).
    """

    stage: str
    kind: Literal["qbr", "kickoff", "go_live"]
    from_day: int = Field(ge=0)
    to_day: int = Field(ge=0)
    shift_days: int

    @model_validator(mode="after")
    def _check_days(self) -> AlignmentRule:
        if self.from_day > self.to_day:
            raise ValueError(f"from_day {self.from_day} is after to_day {self.to_day}")
        return self


class PilotConfig(ConfigModel):
    """The set of contracts the program covers. An empty list puts no restriction on its field."""

    industries: list[str] = []
    countries: list[str] = []
    owner_ids: list[str] = []
    min_amount_usd: Decimal | None = None
    max_amount_usd: Decimal | None = None
    # The day the current definition took effect. Contracts signed earlier are planned only by
    # a backfill, so widening the pilot does not reach back to old deals by surprise.
    effective_from: date | None = None


class BudgetCapsConfig(ConfigModel):
    """Spending caps that planning reserves against; ``None`` means no cap."""

    # ``max`` reserves each gift's budget maximum, which item selection never exceeds, so caps
    # hold. ``midpoint`` plans more gifts, but the real spend can then exceed a cap.
    reserve: Literal["max", "midpoint"] = "max"
    monthly_stage_usd: dict[str, Decimal] = {}
    recipient_yearly_usd: Decimal | None = None


class ComplianceRule(ConfigModel):
    """A recipient group whose employer or regulator limits gifts, and what planning does.

    A recipient belongs to the group when the account's industry, the contact's e-mail domain,
    a word of the contact's title or the contact's mapped healthcare-professional flag matches.

    ``action`` says what a matching recipient gets. ``cap`` lowers each gift to at most
    ``max_gift_usd`` and stops once the recipient's gifts in a calendar year reach
    ``max_yearly_usd``. ``note_only`` replaces every gift with the compliance note card, which
    carries no item of value. ``skip`` sends nothing.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    industries: list[str] = []
    email_domain_suffixes: list[str] = []
    title_keywords: list[str] = []
    match_healthcare_professional_flag: bool = False
    action: Literal["cap", "note_only", "skip"] = "cap"
    max_gift_usd: Decimal | None = Field(None, ge=0)
    max_yearly_usd: Decimal | None = Field(None, ge=0)
    # Record each gift as a transfer of value, for the disclosure that rules on gifts to
    # healthcare professionals require.
    transfer_of_value: bool = False

    @field_validator("email_domain_suffixes")
    @classmethod
    def _check_suffixes(cls, value: list[str]) -> list[str]:
        for suffix in value:
            if not suffix.startswith(".") or len(suffix) < 2 or " " in suffix:
                raise ValueError(
                    f"invalid e-mail domain suffix {suffix!r}: write it with a leading dot, "
                    "such as .gov or .gov.uk"
                )
        return [suffix.lower() for suffix in value]

    @model_validator(mode="after")
    def _check_limits(self) -> ComplianceRule:
        if not (
            self.industries
            or self.email_domain_suffixes
            or self.title_keywords
            or self.match_healthcare_professional_flag
        ):
            raise ValueError(
                f"compliance rule {self.name!r} matches no recipient: set industries, "
                "email_domain_suffixes, title_keywords or match_healthcare_professional_flag"
            )
        if self.action == "cap" and self.max_gift_usd is None and self.max_yearly_usd is None:
            raise ValueError(
                f"compliance rule {self.name!r} has action cap but no limit: set max_gift_usd, "
                "max_yearly_usd or both"
            )
        return self


class AlcoholConfig(ConfigModel):
    """Destinations for items restricted as ``alcohol``, beyond a recipient's own ``no_alcohol``."""

    # ISO 3166-1 alpha-2 codes of destinations that receive no alcohol.
    blocked_countries: list[str] = []

    @field_validator("blocked_countries")
    @classmethod
    def _check_countries(cls, value: list[str]) -> list[str]:
        invalid = [code for code in value if len(code) != 2 or not code.isalpha()]
        if invalid:
            raise ValueError(
                f"invalid country codes {invalid} in alcohol.blocked_countries: use ISO 3166-1 "
                "alpha-2 codes such as SA"
            )
        return [code.upper() for code in value]


class ComplianceConfig(ConfigModel):
    """Gift limits by recipient group, the note card that replaces a gift, and alcohol rules.

    A plain list in ``program.yaml`` is read as ``rules``, the format before this section had
    other keys.
    """

    rules: list[ComplianceRule] = []
    # Catalog SKU sent for a ``note_only`` gift: a card with the note and nothing of value.
    note_only_sku: str = Field("NOTE-CARD-01", min_length=1)
    alcohol: AlcoholConfig = AlcoholConfig()

    @model_validator(mode="before")
    @classmethod
    def _accept_rule_list(cls, value: object) -> object:
        return {"rules": value} if isinstance(value, list) else value

    @model_validator(mode="after")
    def _check_unique_names(self) -> ComplianceConfig:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate compliance rule names {duplicates}")
        return self


class PrivacyConfig(ConfigModel):
    """How long recipients' personal data is kept once their gifts are closed."""

    retention_days_after_delivery: int = Field(
        90,
        ge=0,
        description="Days after a gift's delivery (or its last move, if it was not delivered) "
        "before its recipient's shipping address and its card note are purged.",
    )


# A table or column name: letters, digits and underscores, at most PostgreSQL's 63 bytes.
SqlIdentifier = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=63)
]


class UsageTableConfig(ConfigModel):
    """A product-usage table in the warehouse: one row per account × day (or event), summed.

    The product does not create or fill this table; a usage export loads it.
    """

    table: SqlIdentifier
    account_column: SqlIdentifier = "account_id"
    date_column: SqlIdentifier = "usage_date"
    value_column: SqlIdentifier


class ReportConfig(ConfigModel):
    # ``None`` leaves product usage out of the cohort report.
    usage: UsageTableConfig | None = None


class ProgramConfig(ConfigModel):
    holdout: HoldoutConfig = HoldoutConfig()
    monthly_budget_usd: Decimal = Field(Decimal(250000), gt=0)
    stages: list[StageConfig] = Field(min_length=1)
    schedule: ScheduleConfig = ScheduleConfig()
    alignment: list[AlignmentRule] = []
    pilot: PilotConfig = PilotConfig()
    budget_caps: BudgetCapsConfig = BudgetCapsConfig()
    compliance: ComplianceConfig = ComplianceConfig()
    # ``None`` (no ``review:`` section) sends every ready gift without a human review.
    review: ReviewConfig | None = None
    privacy: PrivacyConfig = PrivacyConfig()
    report: ReportConfig = ReportConfig()

    @model_validator(mode="after")
    def _check_unique_stage_names(self) -> ProgramConfig:
        names = [stage.name for stage in self.stages]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate stage names {duplicates}: each stage needs its own name")
        return self

    @model_validator(mode="after")
    def _check_stage_references(self) -> ProgramConfig:
        names = {stage.name for stage in self.stages}
        referenced = {
            "schedule.same_day_stages": set(self.schedule.same_day_stages),
            "schedule.lead_days_by_stage": set(self.schedule.lead_days_by_stage),
            "alignment": {rule.stage for rule in self.alignment},
            "budget_caps.monthly_stage_usd": set(self.budget_caps.monthly_stage_usd),
        }
        for key, stages in referenced.items():
            unknown = sorted(stages - names)
            if unknown:
                raise ValueError(
                    f"{key} names unknown stages {unknown}; stages are {sorted(names)}"
                )
        return self


class CatalogItem(ConfigModel):
    sku: str = Field(min_length=1)
    name: str
    price: Decimal = Field(gt=0)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    categories: list[str] = Field(min_length=1)
    restrictions: list[str] = []
    ships_to: list[str] = ["*"]
    lead_time_days: int = Field(0, ge=0)
    kind: Literal["physical", "egift"]
    vendor: str = Field("sandbox", min_length=1, description="Vendor adapter that fulfils it.")
    card_format: Literal["a6_card", "mini_card", "email"] | None = Field(
        None, description="Where the note is printed; default: a6_card, or email for e-gifts."
    )

    @property
    def note_format(self) -> str:
        """Return the card format, defaulting by kind: e-gifts carry their note in an e-mail."""
        return self.card_format or ("email" if self.kind == "egift" else "a6_card")

    def ships_to_country(self, country: str | None) -> bool:
        return "*" in self.ships_to or (country is not None and country.upper() in self.ships_to)


class Catalog(ConfigModel):
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


def check_note_only_item(program: ProgramConfig, catalog: Catalog) -> None:
    """Fail when a ``note_only`` compliance rule exists but its note card is not in the catalog."""
    compliance = program.compliance
    if not any(rule.action == "note_only" for rule in compliance.rules):
        return
    if not any(item.sku == compliance.note_only_sku for item in catalog.items):
        raise ConfigurationError(
            f"compliance.note_only_sku is {compliance.note_only_sku!r}, which catalog.yaml does "
            "not list: add the note card to the catalog or set note_only_sku to its SKU"
        )


class ReviewConfig(ConfigModel):
    """When a ready gift waits for a person's approval before it is sent.

    The personalization score adds one point for each of: the recipient's first name, the
    contract's use case or goals, an item that matches a stated interest, and an item other than
    the recipient's-choice e-gift fallback (0 to 4 points).
    """

    max_price_usd: Decimal = Field(Decimal(200), gt=0)
    min_score: int = Field(2, ge=0, le=4)
    review_first_strategic_gift: bool = True
