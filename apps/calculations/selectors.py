"""The calculation engine's reads."""

from apps.calculations.history import dims_key, history_list

__all__ = ["dims_key", "history_list"]
