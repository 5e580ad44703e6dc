"""Writes of the connectors app, one module per use case: connection
profiles (connections.py) and reading records for other apps
(extraction.py)."""
