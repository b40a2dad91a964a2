"""Personalization: choose each gift from what the CRM knows, and write its note."""
