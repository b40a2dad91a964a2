"""Choosing the vendor adapter from settings, and failing early on missing credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from gifting.errors import ConfigurationError
from gifting.runtime import Runtime
from gifting.settings import GiftingSettings
from gifting.vendors.factory import build_vendor, load_product_ids
from gifting.vendors.find_first import FindBeforeCreate
from gifting.vendors.goody import GoodyVendorClient
from gifting.vendors.sandbox import SandboxVendorClient

SECRET = "goody-live-key-9d41"
GOODY = {
    "GIFTING_VENDOR": "goody",
    "GIFTING_GOODY_API_KEY": SECRET,
    "GIFTING_GOODY_FROM_NAME": "Ops Team",
    "GIFTING_GOODY_CARD_ID": "c0ffee00-1111-4222-8333-944455556666",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("GIFTING_"):
            monkeypatch.delenv(name)


def _set(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_goody_without_credentials_names_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFTING_VENDOR", "goody")

    with pytest.raises(ConfigurationError) as caught:
        GiftingSettings()

    message = str(caught.value)
    for name in ("GIFTING_GOODY_API_KEY", "GIFTING_GOODY_FROM_NAME", "GIFTING_GOODY_CARD_ID"):
        assert name in message


def test_missing_card_error_hides_key(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, {**GOODY, "GIFTING_GOODY_CARD_ID": ""})

    with pytest.raises(ConfigurationError) as caught:
        GiftingSettings()

    assert "GIFTING_GOODY_CARD_ID" in str(caught.value)
    assert "GIFTING_GOODY_API_KEY" not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_unknown_vendor_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFTING_VENDOR", "acme")

    with pytest.raises(ValueError, match="goody"):
        GiftingSettings()


def test_goody_settings_build_goody_client(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, GOODY)
    settings = GiftingSettings()

    runtime = Runtime(settings)
    vendor = runtime.vendor
    runtime.close()

    assert isinstance(vendor, GoodyVendorClient)
    assert settings.uses_vendor_sandbox is False
    assert SECRET not in repr(settings)
    assert SECRET not in repr(vendor.__dict__)


def test_find_before_create_wraps_sandbox_client(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(
        monkeypatch,
        {
            "GIFTING_VENDOR_BASE_URL": "http://127.0.0.1:9",
            "GIFTING_VENDOR_API_KEY": "sandbox-vendor-key",
            "GIFTING_VENDOR_FIND_BEFORE_CREATE": "true",
        },
    )

    vendor = build_vendor(GiftingSettings())
    vendor.close()

    assert isinstance(vendor, FindBeforeCreate)
    assert isinstance(vendor.vendor, SandboxVendorClient)
    assert vendor.vendor.retry_place_order is False


def test_sandbox_default_keeps_retrying_creates(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(
        monkeypatch,
        {"GIFTING_VENDOR_BASE_URL": "http://127.0.0.1:9", "GIFTING_VENDOR_API_KEY": "k"},
    )

    vendor = build_vendor(GiftingSettings())
    vendor.close()

    assert isinstance(vendor, SandboxVendorClient)
    assert vendor.retry_place_order is True


def test_sandbox_without_url_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="GIFTING_VENDOR_BASE_URL"):
        build_vendor(GiftingSettings())


def test_product_file_read(tmp_path: Path) -> None:
    path = tmp_path / "goody_products.yaml"
    path.write_text("CEL-CAKE-02: 7c1f4a52-0d4e-4b8e-9a61-2f3b8c9d0e11\n")

    assert load_product_ids(path) == {"CEL-CAKE-02": "7c1f4a52-0d4e-4b8e-9a61-2f3b8c9d0e11"}
    assert load_product_ids(None) == {}


@pytest.mark.parametrize("content", ["- just\n- a list\n", "SKU-1: 42\n", "key: [unclosed\n"])
def test_product_file_invalid(tmp_path: Path, content: str) -> None:
    path = tmp_path / "goody_products.yaml"
    path.write_text(content)

    with pytest.raises(ConfigurationError, match="GIFTING_GOODY_PRODUCTS_FILE"):
        load_product_ids(path)


def test_product_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_product_ids(tmp_path / "absent.yaml")
