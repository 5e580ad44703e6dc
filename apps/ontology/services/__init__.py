"""Writes to the ontology, one module per use case. Every write runs in one
transaction with the DDL it implies and records a version (django-reversion).
The hooks higher layers register to hear of ontology changes are hooks.py."""
