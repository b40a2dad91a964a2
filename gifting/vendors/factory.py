"""Build the vendor adapter that the settings name, with its credentials."""

from __future__ import annotations

from pathlib import Path

import yaml

from gifting.errors import ConfigurationError
from gifting.settings import GiftingSettings
from gifting.vendors.base import GiftVendor
from gifting.vendors.find_first import FindBeforeCreate
from gifting.vendors.goody import GoodyVendorClient
from gifting.vendors.sandbox import SandboxVendorClient


def build_vendor(settings: GiftingSettings) -> GiftVendor:
    """Return the client for ``settings.vendor``, wrapped in ``FindBeforeCreate`` if asked.

    Raises:
        ConfigurationError: A setting the chosen vendor needs is missing or invalid.
    """
    find_first = settings.vendor_find_before_create
    vendor: GiftVendor
    if settings.vendor == "goody":
        vendor = _goody(settings)
    else:
        vendor = _sandbox(settings, retry_place_order=not find_first)
    return FindBeforeCreate(vendor) if find_first else vendor


def _sandbox(settings: GiftingSettings, *, retry_place_order: bool) -> SandboxVendorClient:
    if settings.vendor_base_url is None:
        raise ConfigurationError(
            "no gift vendor configured: set GIFTING_VENDOR_BASE_URL and GIFTING_VENDOR_API_KEY, "
            "set GIFTING_VENDOR=goody with its GIFTING_GOODY_* variables, or start the local "
            "sandbox with `gifting sandbox start`"
        )
    api_key = settings.vendor_api_key.get_secret_value() if settings.vendor_api_key else ""
    return SandboxVendorClient(
        settings.vendor_base_url,
        api_key,
        rate_limit_per_second=settings.vendor_rate_limit_per_second,
        retry_place_order=retry_place_order,
        retry_budget_s=settings.vendor_retry_budget_s,
    )


def _goody(settings: GiftingSettings) -> GoodyVendorClient:
    # The settings validator has already checked that these three are set.
    assert settings.goody_api_key is not None
    assert settings.goody_from_name is not None
    assert settings.goody_card_id is not None
    return GoodyVendorClient(
        settings.goody_api_key.get_secret_value(),
        from_name=settings.goody_from_name,
        card_id=settings.goody_card_id,
        base_url=settings.goody_base_url,
        payment_method_id=settings.goody_payment_method_id,
        workspace_id=settings.goody_workspace_id,
        product_ids=load_product_ids(settings.goody_products_file),
        rate_limit_per_second=settings.goody_rate_limit_per_second,
        retry_budget_s=settings.vendor_retry_budget_s,
    )


def load_product_ids(path: Path | None) -> dict[str, str]:
    """Read a YAML mapping of catalog SKU to vendor product id; ``None`` gives an empty map.

    Raises:
        ConfigurationError: The file is missing, is not YAML, or is not a flat mapping of
            strings.
    """
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigurationError(
            f"GIFTING_GOODY_PRODUCTS_FILE {str(path)!r} cannot be read ({error}). Point it at a "
            "YAML file of 'SKU: goody-product-id' lines."
        ) from error
    if not isinstance(data, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in data.items()
    ):
        raise ConfigurationError(
            f"GIFTING_GOODY_PRODUCTS_FILE {str(path)!r} must map each SKU to a Goody product id "
            "string, such as 'CEL-CAKE-02: <product uuid>'."
        )
    return data
