"""Local stand-ins for Salesforce and the gift vendor, served over real HTTP on 127.0.0.1."""
