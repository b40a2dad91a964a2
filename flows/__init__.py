"""Prefect flows, one module per deployment, and the ``gifting`` command line."""

import os

# Telemetry cannot reach out from most deployments of this product and only logs errors.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Send the core library's log records through Prefect's handlers, so they reach the UI too.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "gifting")
# Prefect's temporary API server gets 20 s to start by default, which a busy two-core machine
# can miss on the first run; waiting longer costs nothing when it starts quickly.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
