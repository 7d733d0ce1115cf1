"""Torrazzo core: site model, stream engine, layouts and devices, with no Qt."""

__version__ = "0.1.0"
