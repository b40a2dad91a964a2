"""Start both sandboxes with the sample org or a loaded export, and describe how to reach them.

The connection details are written to ``<home>/sandbox.json`` while the sandboxes run, so that a
flow started from another process finds them when no real Salesforce or vendor is configured.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from gifting.config import Catalog
from gifting.sandbox.org import OrgStore
from gifting.sandbox.org_file import read_saved_org
from gifting.sandbox.salesforce_server import SalesforceSandbox
from gifting.sandbox.sample_org import SampleOrgSpec, generate_sample_org
from gifting.sandbox.vendor_server import VendorSandbox

logger = logging.getLogger(__name__)

CONNECTION_FILE = "sandbox.json"
# Credentials of the sandbox org. They guard nothing but loopback test data.
SANDBOX_CREDENTIALS = {
    "username": "integration@sandbox.gifting.local",
    "password": "sandbox-password",
    "security_token": "sandbox-token",
    "client_id": "sandbox-client-id",
    "client_secret": "sandbox-client-secret",
}
ORG_FILE = "sample_org.json"


@dataclass(frozen=True)
class SandboxConnection:
    """Everything a client needs to reach both sandboxes. Sandbox secrets are not secret."""

    salesforce_login_url: str
    salesforce_username: str
    salesforce_password: str
    salesforce_security_token: str
    salesforce_client_id: str
    salesforce_client_secret: str
    salesforce_ca_bundle: str
    vendor_base_url: str
    vendor_api_key: str
    salesforce_auth: str = "password"
    # The sandbox publishes no rate limit; the client's default of 10 per second is a real vendor's.
    vendor_rate_limit_per_second: str = "500"

    def as_environment(self) -> dict[str, str]:
        """Return the ``GIFTING_*`` variables that point the product at these sandboxes."""
        return {f"GIFTING_{name.upper()}": value for name, value in asdict(self).items()}


def sample_org_as_of(home: Path, now: datetime) -> datetime:
    """Return the sample org's reference time, fixed on first use so every run reads the same org.

    The generator places history relative to this time; regenerating it with a later time would
    give the same Ids different dates, so the first value is kept in ``<home>/sample_org.json``.
    """
    path = home / ORG_FILE
    if path.exists():
        return datetime.fromisoformat(json.loads(path.read_text())["as_of"])
    as_of = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"as_of": as_of.isoformat()}))
    return as_of


@contextmanager
def running_sandboxes(
    home: Path,
    catalog: Catalog,
    *,
    now: datetime,
    accounts: int = 300,
    seed: int = 7,
    honour_idempotency_keys: bool = True,
) -> Iterator[tuple[SandboxConnection, SalesforceSandbox, VendorSandbox]]:
    """Start both sandboxes and write their connection file.

    The Salesforce sandbox serves the org that ``gifting sandbox load`` saved under ``home``, or
    else a generated sample org of ``accounts`` accounts. With ``honour_idempotency_keys`` false,
    the vendor sandbox creates an order for every request, whatever its key, as a vendor that
    does not deduplicate would.
    """
    store = _org_to_serve(home, now=now, accounts=accounts, seed=seed)
    vendor_catalog = [item.model_dump(mode="json") for item in catalog.items]
    cert_dir = (home / "certs").resolve()
    cert_dir.mkdir(parents=True, exist_ok=True)
    with (
        SalesforceSandbox(store, cert_dir=cert_dir, **SANDBOX_CREDENTIALS) as salesforce,
        VendorSandbox(
            vendor_catalog,
            state_path=home / "vendor_orders.json",
            honour_idempotency_keys=honour_idempotency_keys,
        ) as vendor,
    ):
        connection = SandboxConnection(
            salesforce_login_url=salesforce.login_url,
            salesforce_username=SANDBOX_CREDENTIALS["username"],
            salesforce_password=SANDBOX_CREDENTIALS["password"],
            salesforce_security_token=SANDBOX_CREDENTIALS["security_token"],
            salesforce_client_id=SANDBOX_CREDENTIALS["client_id"],
            salesforce_client_secret=SANDBOX_CREDENTIALS["client_secret"],
            salesforce_ca_bundle=str(salesforce.ca_pem_path),
            vendor_base_url=vendor.base_url,
            vendor_api_key=vendor.api_key,
        )
        path = home / CONNECTION_FILE
        path.write_text(json.dumps({"pid": os.getpid(), **asdict(connection)}, indent=2))
        logger.info(
            "sandboxes running: Salesforce %s, vendor %s", salesforce.login_url, vendor.base_url
        )
        try:
            yield connection, salesforce, vendor
        finally:
            path.unlink(missing_ok=True)


def _org_to_serve(home: Path, *, now: datetime, accounts: int, seed: int) -> OrgStore:
    saved = read_saved_org(home)
    if saved is not None:
        store, source = saved
        logger.info("serving the org loaded from the export in %s", source)
        return store
    spec = SampleOrgSpec(accounts=accounts, seed=seed, as_of=sample_org_as_of(home, now))
    return generate_sample_org(spec)


def read_connection_file(home: Path) -> SandboxConnection | None:
    """Return the running sandboxes' connection, or ``None`` when none are running.

    A file left behind by a sandbox process that was killed is removed, so flows report that no
    org is configured instead of retrying a dead port.
    """
    path = home / CONNECTION_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    pid = data.pop("pid", None)
    if pid is not None and not _process_alive(int(pid)):
        logger.warning("removing %s: the sandbox process %s is no longer running", path, pid)
        path.unlink(missing_ok=True)
        return None
    return SandboxConnection(**data)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but owned by another user
        return True
    return True
