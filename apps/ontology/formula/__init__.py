"""The metric formula language (docs/formulas.md): tokens, parser and checks;
the tree they build and the language's vocabulary are types
(apps/ontology/types/formula.py). Defining a metric parses and checks its
formula here, without the calculation engine; the engine compiles the same
AST to SQL, reading it through `Catalog.metric_formula`."""

from apps.ontology.formula.parser import formula_parse
from apps.ontology.formula.tokens import FUNCTIONS, snake_case

__all__ = ["FUNCTIONS", "formula_parse", "snake_case"]
