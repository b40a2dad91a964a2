"""Personalization: choose each gift from what the CRM records, and write its note."""
