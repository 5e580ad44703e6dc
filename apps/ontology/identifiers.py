"""Rules for the codes users give definitions. Codes become table and column
names in `analytics_data`, so they are lower snake case, short enough to fit
Postgres' 63-byte names once prefixed, and never an SQL reserved word.

One identifier rule for definitions and formulas: every code this module
accepts is a name wherever a formula has a name (`SUM(temp)`, `date = 'a'`,
`group_by=range`). The formula language's own key words (FORMULA_KEYWORDS)
are the only words a formula reads as key words; a code may not be one of
them (`between`), so no code is accepted here and refused in a formula."""

import re

from apps.core.errors import AppError

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# An entity's table is `c<client id>_<code>`: keep room for the prefix.
MAX_ENTITY_CODE = 48
MAX_CODE = 63

# PostgreSQL's reserved key words (SQL Key Words appendix, "reserved" column),
# plus names our own tables use.
RESERVED = frozenset(
    {
        "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization", "binary",
        "both", "case", "cast", "check", "collate", "collation", "column", "concurrently", "constraint", "create",
        "cross", "current_catalog", "current_date", "current_role", "current_schema", "current_time",
        "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except",
        "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant", "group", "having", "ilike", "in",
        "initially", "inner", "intersect", "into", "is", "isnull", "join", "lateral", "leading", "left", "like",
        "limit", "localtime", "localtimestamp", "natural", "not", "notnull", "null", "offset", "on", "only", "or",
        "order", "outer", "overlaps", "placing", "primary", "references", "returning", "right", "select",
        "session_user", "similar", "some", "symmetric", "system_user", "table", "tablesample", "then", "to", "trailing",
        "true", "union", "unique", "user", "using", "variadic", "verbose", "when", "where", "window", "with", "oid",
        "ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"
    }
)  # fmt: skip
# The formula language's key words (docs/formulas.md); the formula tokenizer
# reads every other word as a name (or a function, when "(" follows).
FORMULA_KEYWORDS = frozenset(
    {
        "and", "or", "not", "is", "null", "in", "between", "like", "case", "when", "then", "else", "end", "true",
        "false", "where",
    }
)  # fmt: skip


def code_validate(value: object, *, what: str, max_length: int = MAX_CODE) -> str:
    if not isinstance(value, str) or not value:
        raise AppError(f"The {what} code is required.", code="invalid_code", details={"code": value})
    if not CODE_PATTERN.match(value):
        raise AppError(
            f"The {what} code {value!r} must be lower snake case: a letter, then letters, digits or underscores.",
            code="invalid_code",
            details={"code": value},
        )
    if len(value) > max_length:
        raise AppError(
            f"The {what} code {value!r} is {len(value)} characters; the limit is {max_length}.",
            code="invalid_code",
            details={"code": value},
        )
    if value in RESERVED or value in FORMULA_KEYWORDS or value.startswith("pg_") or value.startswith("_"):
        raise AppError(
            f"The {what} code {value!r} is reserved (an SQL or formula key word, or a system name); choose another.",
            code="reserved_code",
            details={"code": value},
        )
    return value
