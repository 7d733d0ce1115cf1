"""Torrazzo test-suite."""
