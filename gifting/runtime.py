"""Build the clients a flow run needs, once, from validated settings."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from jinja2.sandbox import SandboxedEnvironment
from simple_salesforce import Salesforce
from sqlalchemy import Engine

from gifting.config import (
    Catalog,
    ProgramConfig,
    check_note_only_item,
    load_catalog,
    load_program,
)
from gifting.errors import ConfigurationError
from gifting.personalization.notes import check_templates, note_environment
from gifting.salesforce.config import FieldMapping, load_field_mapping
from gifting.salesforce.credentials import Credentials, credentials_from_settings
from gifting.salesforce.session import SalesforceSession
from gifting.sandbox.launch import read_connection_file
from gifting.settings import GiftingSettings, environment_variable
from gifting.vendors.base import GiftVendor
from gifting.vendors.factory import build_vendor
from gifting.warehouse import create_warehouse_engine, migrate

logger = logging.getLogger(__name__)


def load_settings(secrets: Mapping[str, str] | None = None) -> GiftingSettings:
    """Read settings; without a configured Salesforce, fall back to running local sandboxes.

    Args:
        secrets: Values of secret settings from outside the environment, such as Prefect Secret
            blocks, keyed by setting name. A value that the environment also sets is ignored.
    """
    settings = GiftingSettings(
        **{
            name: value
            for name, value in (secrets or {}).items()
            if environment_variable(name) not in os.environ
        }
    )
    if settings.uses_salesforce_sandbox or settings.uses_vendor_sandbox:
        sandbox = read_connection_file(settings.home)
        if sandbox is not None:
            overrides = {
                key.removeprefix("GIFTING_").lower(): value
                for key, value in sandbox.as_environment().items()
            }
            if not settings.uses_salesforce_sandbox:
                overrides = {k: v for k, v in overrides.items() if not k.startswith("salesforce")}
            if not settings.uses_vendor_sandbox:
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
        catalog = load_catalog(self.settings.config_dir)
        check_note_only_item(self.program, catalog)
        return catalog

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
    def salesforce_credentials(self) -> Credentials:
        """Build the configured mode's credentials; reads and checks a JWT private key file."""
        if self.settings.uses_salesforce_sandbox:
            raise ConfigurationError(
                "no Salesforce org configured: set GIFTING_SALESFORCE_LOGIN_URL and its "
                "credentials, or start the local sandbox with `gifting sandbox start`"
            )
        return credentials_from_settings(
            self.settings, api_version=self.salesforce_mapping.connection.api_version
        )

    @cached_property
    def salesforce_session(self) -> SalesforceSession:
        """Log in once per run; the session logs in again by itself when Salesforce expires it."""
        return SalesforceSession.login(
            self.salesforce_credentials, options=self.salesforce_mapping.sync
        )

    @property
    def salesforce(self) -> Salesforce:
        """Return the current client; not cached, since a new login replaces it."""
        return self.salesforce_session.client

    @cached_property
    def vendor(self) -> GiftVendor:
        """Build the adapter that ``GIFTING_VENDOR`` names."""
        return build_vendor(self.settings)

    def validate(self) -> None:
        """Load and check every config file and template now, before any work starts."""
        _ = self.program, self.catalog, self.notes, self.salesforce_mapping, self.engine
        if not self.settings.uses_salesforce_sandbox:
            _ = self.salesforce_credentials

    def close(self) -> None:
        if "vendor" in self.__dict__:
            self.vendor.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


def _secret(value: object) -> str:
    if value is None:
        return ""
    return value.get_secret_value()  # type: ignore[attr-defined,no-any-return]
