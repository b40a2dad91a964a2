"""Prefect flows, one module per deployment, and the ``gifting`` command line."""

import os

# Telemetry cannot reach out from most deployments of this product and only logs errors.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
