"""Reads of the connectors app, as dataclasses (apps.connectors.types):
connection profiles, their discovered objects and previews (connections.py)."""
