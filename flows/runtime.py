"""Helpers every flow shares: resolving ``as_of``, reading secrets and opening the run's clients."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from gifting.errors import ConfigurationError
from gifting.runtime import Runtime, load_settings
from gifting.salesforce.credentials import read_private_key_file
from gifting.settings import (
    SECRET_SETTINGS,
    GiftingSettings,
    SecretBlockSettings,
    environment_variable,
    secret_block_name,
)

logger = logging.getLogger(__name__)

_PRIVATE_KEY_FILE = "GIFTING_SALESFORCE_PRIVATE_KEY_FILE"


def resolve_as_of(as_of: datetime | None) -> datetime:
    """Return ``as_of`` as naive UTC; the flow reads the clock here and nowhere else."""
    value = as_of or datetime.now(UTC)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


@contextmanager
def open_runtime() -> Iterator[Runtime]:
    """Validate settings and configuration, and close every client when the flow ends."""
    runtime = Runtime(load_settings_with_secrets())
    runtime.validate()
    try:
        yield runtime
    finally:
        runtime.close()


def read_secret_blocks(prefix: str) -> tuple[dict[str, str], dict[str, str]]:
    """Read the Secret blocks of every secret setting that the environment does not set.

    Returns:
        The values found, and the names of the blocks not found, both keyed by setting name.
    """
    from prefect.blocks.system import Secret

    values: dict[str, str] = {}
    not_found: dict[str, str] = {}
    for setting in SECRET_SETTINGS:
        if environment_variable(setting) in os.environ:
            continue
        if setting == "salesforce_private_key" and _PRIVATE_KEY_FILE in os.environ:
            continue  # a key file in the environment wins over the block, like any variable
        name = secret_block_name(prefix, setting)
        try:
            block = Secret.load(name)
        except ValueError:  # Prefect's "Unable to find block document named …"
            not_found[setting] = name
            continue
        values[setting] = str(block.get())
    logger.info("read %d secret settings from Prefect Secret blocks %s-*", len(values), prefix)
    return values, not_found


def load_settings_with_secrets() -> GiftingSettings:
    """Load settings, filling secrets the environment lacks from Prefect Secret blocks.

    Blocks are read only when ``GIFTING_SECRET_BLOCK_PREFIX`` is set, once per flow run, so a
    rotated secret takes effect at the next run.

    Raises:
        ConfigurationError: A required setting is in neither the environment nor a block. The
            message names both the variable and the block.
    """
    prefix = SecretBlockSettings().secret_block_prefix
    if prefix is None:
        return load_settings()
    secrets, not_found = read_secret_blocks(prefix)
    try:
        return load_settings(secrets)
    except ConfigurationError as error:
        looked_up = [
            block
            for setting, block in not_found.items()
            if environment_variable(setting) in str(error)
        ]
        if not looked_up:
            raise
        raise ConfigurationError(
            f"{error} Secret blocks not found either: {', '.join(looked_up)}; create them with "
            "`gifting secrets create`."
        ) from error


def secret_values_from_environment() -> dict[str, str]:
    """Return the secret settings this process's environment sets, keyed by setting name.

    The JWT private key is taken from ``GIFTING_SALESFORCE_PRIVATE_KEY`` or, failing that, read
    and checked from ``GIFTING_SALESFORCE_PRIVATE_KEY_FILE``.
    """
    values = {
        setting: os.environ[environment_variable(setting)]
        for setting in SECRET_SETTINGS
        if os.environ.get(environment_variable(setting))
    }
    key_file = os.environ.get(_PRIVATE_KEY_FILE)
    if "salesforce_private_key" not in values and key_file:
        values["salesforce_private_key"] = read_private_key_file(Path(key_file))
    return values
