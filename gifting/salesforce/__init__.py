"""Salesforce source: authentication, SOQL and the incremental sync into the warehouse."""
