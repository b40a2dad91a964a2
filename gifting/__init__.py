"""Post-contract customer gifting: the core library.

Nothing in this package imports Prefect, so every step can be tested and reused without an
orchestrator. The Prefect tasks in ``tasks/`` and the flows in ``flows/`` wrap these functions.
"""

__version__ = "0.1.0"
