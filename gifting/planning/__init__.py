"""Milestone planning: turn each signed contract into its series of gifts."""
