"""The metric formula language (docs/formulas.md): tokens, AST, parser and
checks. Defining a metric parses and checks its formula here, without the
calculation engine; the engine compiles the same AST to SQL."""

from apps.ontology.formula.nodes import Formula
from apps.ontology.formula.parser import AGGREGATES, BOUNDARIES, PERIOD_WRAPPERS, SCALARS, formula_parse
from apps.ontology.formula.tokens import FUNCTIONS, snake_case

__all__ = [
    "AGGREGATES",
    "BOUNDARIES",
    "FUNCTIONS",
    "PERIOD_WRAPPERS",
    "SCALARS",
    "Formula",
    "formula_parse",
    "snake_case",
]
