"""The calculation engine's writes and entry points (other apps call these)."""

from apps.calculations.history import history_persist
from apps.calculations.orchestrator import BatchItem, CalculationOrchestrator, domain_handler
from apps.calculations.query import adhoc_query_run

__all__ = ["BatchItem", "CalculationOrchestrator", "adhoc_query_run", "domain_handler", "history_persist"]
