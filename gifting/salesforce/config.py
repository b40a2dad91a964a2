"""The Salesforce field mapping and sync limits in ``config/salesforce.yaml``.

Orgs name their custom fields differently, so every field the product reads beyond the standard
ones comes from this file. The model defaults are the sample org's names, so a missing section
behaves like the shipped file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from gifting.errors import ConfigurationError

CONFIG_FILE = "salesforce.yaml"

# Field names go into the SELECT list verbatim, because SOQL has no quoting for identifiers, so
# only API names are accepted: a letter, then letters, digits and underscores.
ApiName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=80)]

_NO_SUCH_COLUMN = re.compile(r"No such column '(?P<field>[^']+)'", re.IGNORECASE)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TriggerConfig(_Section):
    """The records that start a contract, and the fields read from them."""

    object: Literal["Opportunity", "Contract"] = "Opportunity"
    opportunity_types: list[str] = Field(default=["New Business"], min_length=1)
    contract_status: str = Field(default="Activated", min_length=1)
    signing_date: ApiName = "CloseDate"
    use_case: ApiName | None = "Use_Case__c"
    goals: ApiName | None = "Goals__c"


class RecipientConfig(_Section):
    """Rule that picks a contract's recipient: the primary contact role, or a Contact lookup."""

    rule: Literal["primary_contact_role", "lookup_field"] = "primary_contact_role"
    lookup_field: ApiName | None = None

    @model_validator(mode="after")
    def _check_lookup_field(self) -> RecipientConfig:
        if self.rule == "lookup_field" and self.lookup_field is None:
            raise ValueError("recipient.rule is lookup_field, so set recipient.lookup_field")
        return self


class OpportunityConfig(_Section):
    type: ApiName = "Type"
    expansion_types: list[str] = Field(default=["Expansion"])
    # A won deal of one of these types records a renewal; an empty list leaves renewals out.
    renewal_types: list[str] = Field(default=["Renewal"])

    @model_validator(mode="after")
    def _check_disjoint_types(self) -> OpportunityConfig:
        shared = sorted(set(self.expansion_types) & set(self.renewal_types))
        if shared:
            raise ValueError(
                f"opportunity types {shared} are listed under both expansion_types and "
                "renewal_types: a won deal counts as one or the other, so list each type once"
            )
        return self


class AccountConfig(_Section):
    strategic: ApiName | None = "Strategic__c"
    churn_date: ApiName | None = "Churn_Date__c"
    nps: ApiName | None = "NPS_Score__c"
    referrals: ApiName | None = "Referrals__c"
    # Outcomes many orgs do not track, so unmapped by default; the report then leaves them out.
    # NOTE: read from Account only; an org that keeps the notice on Contract needs a Contract
    # sync that runs whatever the trigger object is, which does not exist yet.
    non_renewal_date: ApiName | None = None  # date: the customer gave notice not to renew
    testimonial: ApiName | None = None  # checkbox or date: the customer gave a testimonial
    case_study: ApiName | None = None  # checkbox or date: a case study about it was published
    # The account's own gift policy. Unmapped (null) fields put no restriction on its gifts.
    gift_policy_cap: ApiName | None = None
    no_gifts_policy: ApiName | None = None
    no_alcohol_policy: ApiName | None = None


class ContactConfig(_Section):
    time_zone: ApiName | None = "Time_Zone__c"
    preferences: ApiName | None = "Gift_Preferences__c"
    gift_opt_out: ApiName | None = "Gift_Opt_Out__c"
    healthcare_professional: ApiName | None = None


class EngagementConfig(_Section):
    """Picklist values that mark engagement in the activity history, read by the cohort report."""

    reply_task_types: list[str] = Field(default=["Email"])

    @property
    def reply_kinds(self) -> tuple[str, ...]:
        """Return the activity kinds the warehouse stores for these Task types (lower case)."""
        return tuple(sorted({value.lower() for value in self.reply_task_types}))


class SyncOptions(_Section):
    """Limits of one sync run; see the comments in the shipped ``salesforce.yaml``."""

    max_api_usage_share: float = Field(default=0.8, gt=0.0, le=1.0)
    lookback_minutes: float = Field(default=5.0, ge=0.0)
    batch_size: int = Field(default=1000, ge=1)
    max_attempts: int = Field(default=4, ge=1, le=10)
    backoff_base_s: float = Field(default=1.0, ge=0.0)
    bulk_threshold: int | None = Field(default=50_000, ge=0)
    bulk_page_size: int = Field(default=50_000, ge=1)
    bulk_poll_interval_s: float = Field(default=0.5, gt=0.0)
    bulk_timeout_s: float = Field(default=3600.0, gt=0.0)


class ConnectionConfig(_Section):
    """Connection options for the org. Credentials and the login URL are settings instead."""

    # Pinned so that a simple-salesforce upgrade cannot change the API the field mapping was
    # written against. Salesforce names versions NN.0, without the v of the URL path.
    api_version: str = Field(default="62.0", pattern=r"^[1-9][0-9]\.0$")


class FieldMapping(_Section):
    """Everything ``salesforce.yaml`` configures; ``FieldMapping()`` equals the shipped file."""

    connection: ConnectionConfig = ConnectionConfig()
    trigger: TriggerConfig = TriggerConfig()
    recipient: RecipientConfig = RecipientConfig()
    opportunity: OpportunityConfig = OpportunityConfig()
    account: AccountConfig = AccountConfig()
    contact: ContactConfig = ContactConfig()
    engagement: EngagementConfig = EngagementConfig()
    sync: SyncOptions = SyncOptions()
    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_recipient_rule(self) -> FieldMapping:
        if self.trigger.object == "Contract" and self.recipient.rule == "primary_contact_role":
            raise ValueError(
                "recipient.rule primary_contact_role needs trigger.object Opportunity, because "
                "contact roles hang off opportunities: use lookup_field for contracts"
            )
        return self

    @property
    def source(self) -> str:
        """Return the file this mapping came from, for error messages."""
        return str(self._source) if self._source else f"config/{CONFIG_FILE}"

    @property
    def unmapped_outcomes(self) -> tuple[str, ...]:
        """Return the optional outcome kinds this mapping cannot measure, for the report."""
        unmapped = []
        if not self.opportunity.renewal_types:
            unmapped.append("renewal")
        if self.account.testimonial is None:
            unmapped.append("testimonial")
        if self.account.case_study is None:
            unmapped.append("case_study")
        return tuple(unmapped)

    def entries(self, sobject: str) -> dict[str, str]:
        """Return the mapped fields read from ``sobject``, keyed by their YAML path."""
        sections: dict[str, BaseModel] = {}
        if sobject == "Account":
            sections["account"] = self.account
        elif sobject == "Contact":
            sections["contact"] = self.contact
        if sobject == "Opportunity":
            sections["opportunity"] = self.opportunity
        if sobject == self.trigger.object:
            sections["trigger"] = self.trigger
            sections["recipient"] = self.recipient
        entries: dict[str, str] = {}
        for section_name, section in sections.items():
            for key in _FIELD_KEYS.get(section_name, ()):
                value = getattr(section, key)
                if value is not None:
                    entries[f"{section_name}.{key}"] = value
        return entries

    def entry_for_field(self, sobject: str, field: str) -> str | None:
        """Return the YAML path that names ``field`` on ``sobject``, ignoring case as SOQL does."""
        wanted = field.casefold()
        for key, value in self.entries(sobject).items():
            if value.casefold() == wanted:
                return key
        return None

    def invalid_field_error(self, sobject: str, message: str) -> ConfigurationError:
        """Turn Salesforce's INVALID_FIELD message into an error that names the entry to fix."""
        match = _NO_SUCH_COLUMN.search(message)
        field = match["field"] if match else None
        entry = self.entry_for_field(sobject, field) if field else None
        if entry is not None:
            field = self.entries(sobject)[entry]
            return ConfigurationError(
                f"{self.source}: entry {entry} names field {field!r}, which {sobject} does not "
                f"have or the integration user cannot read (Salesforce: {_first_line(message)}). "
                f"Fix {entry} in {self.source}: use the field's API name, or null if the org "
                "does not track it."
            )
        return ConfigurationError(
            f"Salesforce rejected a field of {sobject}: {_first_line(message)}. "
            f"If the field comes from {self.source}, fix the entry there; otherwise give the "
            "integration user read access to it."
        )


# Keys of each section whose values are field API names, as opposed to picklist values.
_FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "trigger": ("signing_date", "use_case", "goals"),
    "recipient": ("lookup_field",),
    "opportunity": ("type",),
    "account": (
        "strategic",
        "churn_date",
        "nps",
        "referrals",
        "non_renewal_date",
        "testimonial",
        "case_study",
        "gift_policy_cap",
        "no_gifts_policy",
        "no_alcohol_policy",
    ),
    "contact": ("time_zone", "preferences", "gift_opt_out", "healthcare_professional"),
}


def _first_line(message: str) -> str:
    """Return the line that explains a SOQL error; Salesforce puts the query and a caret first."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    explained = [line for line in lines if _NO_SUCH_COLUMN.search(line)]
    return (explained or lines or [message])[0]


def load_field_mapping(config_dir: Path) -> FieldMapping:
    """Read and validate ``salesforce.yaml`` from ``config_dir``.

    Raises:
        ConfigurationError: The file is missing, is not YAML, or breaks the model; the message
            names the file and the entry.
    """
    path = config_dir / CONFIG_FILE
    if not path.exists():
        raise ConfigurationError(
            f"config file {path} not found: copy the shipped config/{CONFIG_FILE} there or set "
            "GIFTING_CONFIG_DIR"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigurationError(f"config file {path} is not valid YAML: {error}") from error
    try:
        mapping = FieldMapping.model_validate(data)
    except ValidationError as error:
        raise ConfigurationError(f"config file {path} is invalid:\n{error}") from error
    mapping._source = path
    return mapping
