"""Prefect tasks: each wraps one core step of ``gifting`` with retries, caching and logging."""
