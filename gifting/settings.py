"""Typed runtime settings, read from ``GIFTING_*`` environment variables.

The defaults need no set-up: a SQLite warehouse under ``.gifting/``, Prefect's ephemeral API and
the two local sandboxes on free loopback ports. Production sets the Salesforce and vendor variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gifting.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_config_dir() -> Path:
    local = Path.cwd() / "config"
    return local if (local / "program.yaml").exists() else PROJECT_ROOT / "config"


class GiftingSettings(BaseSettings):
    """Every runtime setting of the product, validated once when a flow starts."""

    model_config = SettingsConfigDict(env_prefix="GIFTING_", extra="ignore")

    home: Path = Field(Path(".gifting"), description="Folder for the SQLite warehouse and reports.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the warehouse; default: SQLite file under home."
    )
    config_dir: Path = Field(default_factory=_default_config_dir)

    salesforce_login_url: str | None = Field(
        None,
        description="Base URL that issues OAuth tokens, such as https://login.salesforce.com or a "
        "My Domain URL. Unset: the pipeline starts the local Salesforce sandbox.",
    )
    salesforce_username: str | None = None
    salesforce_password: SecretStr | None = None
    salesforce_security_token: SecretStr | None = None
    salesforce_client_id: str | None = None
    salesforce_client_secret: SecretStr | None = None
    salesforce_api_version: str = "62.0"
    salesforce_ca_bundle: Path | None = Field(
        None, description="PEM file that signs the Salesforce server; unset: the system store."
    )

    vendor: Literal["sandbox", "goody"] = Field(
        "sandbox", description="Gift vendor adapter: the local sandbox, or Goody."
    )
    vendor_base_url: str | None = Field(
        None, description="Gift vendor API URL. Unset: the pipeline starts the vendor sandbox."
    )
    vendor_api_key: SecretStr | None = None
    vendor_rate_limit_per_second: float = Field(10.0, gt=0)
    vendor_find_before_create: bool = Field(
        False,
        description="Look every order up by gift reference before creating it and after a "
        "timeout, for a vendor that does not deduplicate on idempotency keys.",
    )

    goody_api_key: SecretStr | None = Field(None, description="Goody API key (bearer token).")
    goody_base_url: str = Field(
        "https://api.ongoody.com",
        description="Goody API root; https://api.sandbox.ongoody.com is Goody's own sandbox.",
    )
    goody_from_name: str | None = Field(None, description="Sender name shown on Goody gifts.")
    goody_card_id: str | None = Field(
        None, description="Goody digital card that carries the note; Goody requires one."
    )
    goody_payment_method_id: str | None = None
    goody_workspace_id: str | None = None
    goody_products_file: Path | None = Field(
        None, description="YAML file mapping catalog SKUs to Goody product ids."
    )
    goody_rate_limit_per_second: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _check_salesforce_credentials(self) -> GiftingSettings:
        if self.salesforce_login_url is None:
            return self
        required = {
            "GIFTING_SALESFORCE_USERNAME": self.salesforce_username,
            "GIFTING_SALESFORCE_PASSWORD": self.salesforce_password,
            "GIFTING_SALESFORCE_CLIENT_ID": self.salesforce_client_id,
            "GIFTING_SALESFORCE_CLIENT_SECRET": self.salesforce_client_secret,
        }
        missing = sorted(name for name, value in required.items() if value is None)
        if missing:
            raise ConfigurationError(
                "GIFTING_SALESFORCE_LOGIN_URL is set but these variables are missing: "
                + ", ".join(missing)
                + ". Set them, or unset GIFTING_SALESFORCE_LOGIN_URL to use the local sandbox."
            )
        return self

    @model_validator(mode="after")
    def _check_vendor_credentials(self) -> GiftingSettings:
        if self.vendor != "goody":
            return self
        required = {
            "GIFTING_GOODY_API_KEY": self.goody_api_key,
            "GIFTING_GOODY_FROM_NAME": self.goody_from_name,
            "GIFTING_GOODY_CARD_ID": self.goody_card_id,
        }
        missing = sorted(name for name, value in required.items() if not value)
        if missing:
            raise ConfigurationError(
                "GIFTING_VENDOR is goody but these variables are missing: "
                + ", ".join(missing)
                + ". Set them, or unset GIFTING_VENDOR to use the local vendor sandbox."
            )
        return self

    @property
    def warehouse_url(self) -> str:
        """Return the SQLAlchemy URL of the warehouse, defaulting to a SQLite file under home."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'warehouse.db').resolve()}"

    @property
    def uses_salesforce_sandbox(self) -> bool:
        return self.salesforce_login_url is None

    @property
    def uses_vendor_sandbox(self) -> bool:
        return self.vendor == "sandbox" and self.vendor_base_url is None
