"""Typed runtime settings, read from ``GIFTING_*`` environment variables.

The defaults need no set-up: a SQLite warehouse under ``.gifting/``, Prefect's ephemeral API and
the two local sandboxes on free loopback ports. Production sets the Salesforce and vendor variables.
"""

from __future__ import annotations

import re
import sysconfig
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gifting.errors import ConfigurationError


def _find_project_root() -> Path:
    """Return the folder with ``config/``, ``sql/`` and ``prefect.yaml``.

    In a checkout (and an editable install) that is the checkout. ``pip install .`` copies the
    three into ``share/gifting`` under the environment's data path, as declared in
    ``pyproject.toml``.
    """
    checkout = Path(__file__).resolve().parent.parent
    installed = [
        Path(sysconfig.get_path("data", scheme)) / "share" / "gifting"
        for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user"))
    ]
    for root in [checkout, *installed]:
        if (root / "config" / "program.yaml").exists():
            return root
    return checkout


PROJECT_ROOT = _find_project_root()

# The settings each Salesforce authentication mode needs; an inner tuple lists alternatives.
# Setting salesforce_login_url, or salesforce_instance_url for session_id, selects a real org.
SALESFORCE_REQUIRED_SETTINGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "password": (
        ("salesforce_login_url",),
        ("salesforce_username",),
        ("salesforce_password",),
        ("salesforce_client_id",),
        ("salesforce_client_secret",),
    ),
    "jwt": (
        ("salesforce_login_url",),
        ("salesforce_username",),
        ("salesforce_client_id",),
        ("salesforce_private_key_file", "salesforce_private_key"),
    ),
    "client_credentials": (
        ("salesforce_login_url",),
        ("salesforce_client_id",),
        ("salesforce_client_secret",),
    ),
    "session_id": (("salesforce_instance_url",), ("salesforce_session_id",)),
}

# Settings that hold secrets. Each may come from a Prefect Secret block instead of the
# environment; flows/runtime.py resolves the blocks, because this package never imports Prefect.
SECRET_SETTINGS = (
    "salesforce_password",
    "salesforce_security_token",
    "salesforce_client_secret",
    "salesforce_private_key",
    "salesforce_session_id",
    "vendor_api_key",
    "goody_api_key",
    "webhook_secret",
)
_BLOCK_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def secret_block_name(prefix: str, setting: str) -> str:
    """Return the Secret block that holds ``setting``, such as ``gifting-salesforce-password``."""
    return f"{prefix}-{setting.replace('_', '-')}"


def environment_variable(setting: str) -> str:
    """Return the environment variable of a setting, such as ``GIFTING_SALESFORCE_PASSWORD``."""
    return f"GIFTING_{setting.upper()}"


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

    salesforce_auth: str = Field(
        "password",
        description="OAuth flow that logs in to Salesforce: password, jwt, client_credentials "
        "or session_id.",
    )
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
    salesforce_private_key: SecretStr | None = Field(
        None, description="PEM text of the JWT signing key; or set salesforce_private_key_file."
    )
    salesforce_private_key_file: Path | None = Field(
        None, description="PEM file of the connected app's RSA private key (jwt mode)."
    )
    salesforce_jwt_audience: str | None = Field(
        None, description="The JWT aud claim; unset: the login URL."
    )
    salesforce_session_id: SecretStr | None = Field(
        None, description="An existing access token (session_id mode); it cannot be renewed."
    )
    salesforce_instance_url: str | None = Field(
        None, description="The org's instance URL that goes with salesforce_session_id."
    )
    salesforce_api_version: str | None = Field(
        None, description="Overrides connection.api_version in config/salesforce.yaml."
    )
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

    @field_validator("salesforce_auth")
    @classmethod
    def _check_auth_mode(cls, mode: str) -> str:
        if mode not in SALESFORCE_REQUIRED_SETTINGS:
            raise ConfigurationError(
                f"GIFTING_SALESFORCE_AUTH is {mode!r}, which is not an authentication mode: "
                "use " + ", ".join(SALESFORCE_REQUIRED_SETTINGS)
            )
        return mode

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
        if self.uses_salesforce_sandbox:
            return self
        missing = [
            " or ".join(environment_variable(field) for field in alternatives)
            for alternatives in SALESFORCE_REQUIRED_SETTINGS[self.salesforce_auth]
            if all(getattr(self, field) is None for field in alternatives)
        ]
        if missing:
            raise ConfigurationError(
                f"GIFTING_SALESFORCE_AUTH is {self.salesforce_auth} but these settings are "
                "missing: " + ", ".join(missing) + ". Set them as environment variables or in "
                "Prefect Secret blocks (see GIFTING_SECRET_BLOCK_PREFIX), or unset "
                "GIFTING_SALESFORCE_LOGIN_URL and GIFTING_SALESFORCE_INSTANCE_URL to use the "
                "local sandbox."
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
        """Return True when no org is configured, so the pipeline starts the local sandbox."""
        return self.salesforce_login_url is None and self.salesforce_instance_url is None

    @property
    def uses_vendor_sandbox(self) -> bool:
        return self.vendor == "sandbox" and self.vendor_base_url is None


class SecretBlockSettings(BaseSettings):
    """The Prefect Secret blocks that secrets come from when the environment lacks them.

    With ``GIFTING_SECRET_BLOCK_PREFIX=gifting``, a secret setting such as
    ``salesforce_password`` that is not in the environment is read from the Secret block
    ``gifting-salesforce-password``. ``gifting secrets create`` writes those blocks.
    """

    model_config = SettingsConfigDict(env_prefix="GIFTING_", extra="ignore")

    secret_block_prefix: str | None = Field(
        None, description="Prefix of the Prefect Secret blocks that hold the secret settings."
    )

    @field_validator("secret_block_prefix")
    @classmethod
    def _check_prefix(cls, prefix: str | None) -> str | None:
        if prefix is not None and not _BLOCK_NAME.match(prefix):
            raise ConfigurationError(
                f"GIFTING_SECRET_BLOCK_PREFIX is {prefix!r}, but Prefect block names take only "
                "lowercase letters, digits and single dashes: use a value such as gifting-prod"
            )
        return prefix
