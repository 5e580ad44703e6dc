"""The calculation engine's reads."""

from apps.calculations.history import dims_key, history_list, history_recent

__all__ = ["dims_key", "history_list", "history_recent"]
