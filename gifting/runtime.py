"""Build the clients a flow run needs, once, from validated settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from jinja2.sandbox import SandboxedEnvironment
from simple_salesforce import Salesforce
from sqlalchemy import Engine

from gifting.config import Catalog, ProgramConfig, load_catalog, load_program
from gifting.errors import ConfigurationError
from gifting.personalization.notes import check_templates, note_environment
from gifting.salesforce.client import SalesforceCredentials
from gifting.salesforce.config import FieldMapping, load_field_mapping
from gifting.salesforce.session import SalesforceSession
from gifting.sandbox.launch import read_connection_file
from gifting.settings import GiftingSettings
from gifting.vendors.base import GiftVendor
from gifting.vendors.sandbox import SandboxVendorClient
from gifting.warehouse import create_warehouse_engine, migrate

logger = logging.getLogger(__name__)


def load_settings() -> GiftingSettings:
    """Read settings; without a configured Salesforce, fall back to running local sandboxes."""
    settings = GiftingSettings()
    if settings.salesforce_login_url is None or settings.vendor_base_url is None:
        sandbox = read_connection_file(settings.home)
        if sandbox is not None:
            overrides = {
                key.removeprefix("GIFTING_").lower(): value
                for key, value in sandbox.as_environment().items()
            }
            if settings.salesforce_login_url is not None:
                overrides = {k: v for k, v in overrides.items() if not k.startswith("salesforce")}
            if settings.vendor_base_url is not None:
                overrides = {k: v for k, v in overrides.items() if not k.startswith("vendor")}
            settings = GiftingSettings(**{**settings.model_dump(exclude_none=True), **overrides})
    return settings


@dataclass
class Runtime:
    """Settings, configuration and clients for one flow run."""

    settings: GiftingSettings

    @cached_property
    def engine(self) -> Engine:
        engine = create_warehouse_engine(self.settings.warehouse_url)
        migrate(engine)
        return engine

    @cached_property
    def program(self) -> ProgramConfig:
        return load_program(self.settings.config_dir)

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog(self.settings.config_dir)

    @cached_property
    def notes(self) -> SandboxedEnvironment:
        environment = note_environment(self.settings.config_dir / "templates")
        check_templates(environment, [stage.template for stage in self.program.stages])
        return environment

    @property
    def item_kinds(self) -> dict[str, str]:
        return {item.sku: item.kind for item in self.catalog.items}

    @property
    def report_dir(self) -> Path:
        return self.settings.home / "reports"

    @cached_property
    def salesforce_mapping(self) -> FieldMapping:
        return load_field_mapping(self.settings.config_dir)

    @cached_property
    def salesforce_session(self) -> SalesforceSession:
        """Log in once per run; the session logs in again by itself when Salesforce expires it."""
        settings = self.settings
        if settings.salesforce_login_url is None:
            raise ConfigurationError(
                "no Salesforce org configured: set GIFTING_SALESFORCE_LOGIN_URL and its "
                "credentials, or start the local sandbox with `gifting sandbox start`"
            )
        credentials = SalesforceCredentials(
            login_url=settings.salesforce_login_url,
            username=settings.salesforce_username or "",
            password=_secret(settings.salesforce_password),
            security_token=_secret(settings.salesforce_security_token),
            client_id=settings.salesforce_client_id or "",
            client_secret=_secret(settings.salesforce_client_secret),
            api_version=settings.salesforce_api_version,
            ca_bundle=settings.salesforce_ca_bundle,
        )
        return SalesforceSession.login(credentials, options=self.salesforce_mapping.sync)

    @property
    def salesforce(self) -> Salesforce:
        """Return the current client; not cached, since a new login replaces it."""
        return self.salesforce_session.client

    @cached_property
    def vendor(self) -> GiftVendor:
        settings = self.settings
        if settings.vendor_base_url is None:
            raise ConfigurationError(
                "no gift vendor configured: set GIFTING_VENDOR_BASE_URL and "
                "GIFTING_VENDOR_API_KEY, or start the local sandbox with `gifting sandbox start`"
            )
        return SandboxVendorClient(
            settings.vendor_base_url,
            _secret(settings.vendor_api_key),
            rate_limit_per_second=settings.vendor_rate_limit_per_second,
            retry_budget_s=settings.vendor_retry_budget_s,
        )

    def validate(self) -> None:
        """Load and check every config file and template now, before any work starts."""
        _ = self.program, self.catalog, self.notes, self.salesforce_mapping, self.engine

    def close(self) -> None:
        if "vendor" in self.__dict__:
            self.vendor.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


def _secret(value: object) -> str:
    if value is None:
        return ""
    return value.get_secret_value()  # type: ignore[attr-defined,no-any-return]
