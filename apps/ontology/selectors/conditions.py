"""Row-policy predicates in the formula language's filter syntax
(docs/access.md, "Row policies"): parsed and type-checked by the formula
parser, so a predicate and a formula's `WHERE` read the same way."""

from apps.ontology.formula.parser import condition_parse

__all__ = ["condition_parse"]
