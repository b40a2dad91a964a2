"""Prefect flows, one module per deployment, and the ``gifting`` command line."""

import os

# Telemetry cannot reach out from most deployments of this product and only logs errors.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Send the core library's log records through Prefect's handlers, so they reach the UI too.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "gifting")
# Prefect 3.9 gives its temporary API server 20 s to start, which a busy two-core machine can
# miss on the first run. A longer wait costs nothing when the server starts quickly.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
