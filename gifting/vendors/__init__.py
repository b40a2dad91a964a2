"""Gift vendors: the protocol the pipeline codes against, and its implementations."""

from __future__ import annotations

from gifting.vendors.base import (
    Address,
    CatalogEntry,
    GiftKind,
    GiftVendor,
    OrderRequest,
    VendorErrorCode,
    VendorOrder,
    VendorStatus,
)
from gifting.vendors.sandbox import SandboxVendorClient

__all__ = [
    "Address",
    "CatalogEntry",
    "GiftKind",
    "GiftVendor",
    "OrderRequest",
    "SandboxVendorClient",
    "VendorErrorCode",
    "VendorOrder",
    "VendorStatus",
]
