"""Watchpost collector: the city's inventory, policies, findings and Annex 9 audit work."""

__version__ = "0.1.0"
