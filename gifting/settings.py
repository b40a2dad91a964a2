"""Typed runtime settings, read from ``GIFTING_*`` environment variables.

The defaults need no set-up: a SQLite warehouse under ``.gifting/``, Prefect's ephemeral API and
the two local sandboxes on free loopback ports. Production sets the Salesforce and vendor variables.
"""

from __future__ import annotations

from pathlib import Path

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

    vendor_base_url: str | None = Field(
        None, description="Gift vendor API URL. Unset: the pipeline starts the vendor sandbox."
    )
    vendor_api_key: SecretStr | None = None
    vendor_rate_limit_per_second: float = Field(10.0, gt=0)
    vendor_retry_budget_s: float = Field(
        60.0,
        ge=0,
        description="Seconds one flow run may spend on failed vendor calls and retry waits.",
    )
    vendor_concurrency: int = Field(
        4, ge=1, le=32, description="Vendor orders in flight at once during dispatch."
    )

    webhook_secret: SecretStr | None = Field(
        None, description="Key the vendor signs delivery webhooks with (HMAC-SHA256)."
    )
    webhook_host: str = Field("127.0.0.1", description="Interface the webhook receiver binds.")
    webhook_port: int = Field(8085, ge=0, le=65535, description="Port of the webhook receiver.")
    webhook_path: str = Field("/webhooks/vendor", pattern=r"^/")
    webhook_tolerance_s: float = Field(
        300, gt=0, description="Maximum age in seconds of a webhook's signed timestamp."
    )

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
        return self.vendor_base_url is None
