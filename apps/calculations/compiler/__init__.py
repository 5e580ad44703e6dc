"""The formula compiler: a metric request -> one SQL statement."""

from apps.calculations.compiler.reads import metric_reads
from apps.calculations.compiler.statement import CompiledQuery, metric_compile

__all__ = ["CompiledQuery", "metric_compile", "metric_reads"]
