"""Constants shared by the ledger tests and their fixtures."""

from __future__ import annotations

from datetime import datetime

from gifting.settings import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "config"
AS_OF = datetime(2026, 6, 1)
