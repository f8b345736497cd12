"""Watchpost agent: inventories an office PC and reports to the collector."""

__version__ = "0.1.0"
