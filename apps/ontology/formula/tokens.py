"""First line of defence for metric formulas: tokenize (sqlglot's tokenizer)
and refuse any token outside the formula language, naming it. The parser
(parser.py) builds the AST from the tokens this accepts.

A word is a key word only when it is one of the formula language's own
(identifiers.FORMULA_KEYWORDS); every other word sqlglot reads as an SQL key
word (`date`, `temp`, `range`, `rows`, `filter`, ...) is a name, the same
rule the attribute-code validator applies (identifiers.py)."""

import re

from sqlglot.errors import TokenError
from sqlglot.tokens import Token, Tokenizer, TokenType

from apps.core.errors import AppError
from apps.ontology.identifiers import FORMULA_KEYWORDS, RESERVED

FUNCTIONS = frozenset(
    {
        "SUM", "AVG", "COUNT", "COUNT_DISTINCT", "MIN", "MAX", "LAST", "FIRST", "PERCENTILE",
        "AT_START", "AT_END", "PERIOD_START", "PERIOD_END",
        "IF", "COALESCE", "ABS", "ROUND",
    }
)  # fmt: skip

_ALLOWED = {
    TokenType.VAR, TokenType.NUMBER, TokenType.STRING, TokenType.L_PAREN, TokenType.R_PAREN, TokenType.COMMA,
    TokenType.PLUS, TokenType.DASH, TokenType.STAR, TokenType.SLASH, TokenType.MOD,
    TokenType.EQ, TokenType.NEQ, TokenType.GT, TokenType.GTE, TokenType.LT, TokenType.LTE,
    TokenType.WHERE, TokenType.AND, TokenType.OR, TokenType.NOT, TokenType.IS, TokenType.NULL, TokenType.IN,
    TokenType.BETWEEN, TokenType.LIKE, TokenType.CASE, TokenType.WHEN, TokenType.THEN, TokenType.ELSE,
    TokenType.END, TokenType.TRUE, TokenType.FALSE,
}  # fmt: skip
MAX_FORMULA_LENGTH = 2000
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PATH = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*")
# Kinds that are not words: they keep their kind whatever their text.
_NOT_WORDS = {TokenType.VAR, TokenType.NUMBER, TokenType.STRING, TokenType.IDENTIFIER}


class _FormulaTokenizer(Tokenizer):
    # No SQL commands: sqlglot reads the text after a leading SHOW, EXECUTE, CALL, ... as one string.
    COMMANDS: set = set()


def formula_error(message: str, token: str, position: int | None = None) -> AppError:
    details: dict = {"token": token}
    if position is not None:
        details["position"] = position
    return AppError(message, code="invalid_formula", details=details)


def formula_tokens(formula: str, *, condition: bool = False) -> list[Token]:
    """Tokens of `formula`, checked against the language; raises AppError
    naming the first offending token. With `condition` (a row policy's
    predicate, conditions.py) a dotted path (`sold_by.region`) is one name and
    `{user.<attribute>}` one PLACEHOLDER token whose text is the attribute."""
    if not isinstance(formula, str) or not formula.strip():
        raise AppError("The formula is empty.", code="invalid_formula")
    if len(formula) > MAX_FORMULA_LENGTH:
        raise AppError(f"The formula is longer than {MAX_FORMULA_LENGTH} characters.", code="invalid_formula")
    try:
        tokens = _FormulaTokenizer().tokenize(formula)
    except TokenError as exc:
        raise AppError(f"The formula does not parse: {exc}", code="invalid_formula") from exc

    for token in tokens:
        # A word that is not one of the language's key words is a name (or a function before "("),
        # unless no code can be it (an SQL reserved word: SELECT, FROM, ...), which stays refused below.
        word = token.text.lower()
        if (
            token.token_type not in _NOT_WORDS
            and _WORD.fullmatch(token.text)
            and word not in FORMULA_KEYWORDS
            and word not in RESERVED
        ):
            token.token_type = TokenType.VAR
    if condition:
        tokens = _paths_merge(tokens)
    depth = 0
    for index, token in enumerate(tokens):
        text = token.text
        if token.comments:
            raise formula_error("Comments are not allowed in a formula.", "--", token.start)
        if condition and token.token_type == TokenType.PLACEHOLDER:
            continue
        if token.token_type not in _ALLOWED or (token.token_type == TokenType.NOT and text.upper() != "NOT"):
            shown = f'"{text}"' if token.token_type == TokenType.IDENTIFIER else text
            raise formula_error(f"{shown!s} is not allowed in a formula.", shown, token.start)
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
            if depth < 0:
                raise formula_error("Unbalanced ')' in the formula.", ")", token.start)
        elif token.token_type == TokenType.VAR:
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is not None and following.token_type == TokenType.L_PAREN:
                name = text.upper()
                if name not in FUNCTIONS:
                    raise formula_error(
                        f"Function {text} is not in the formula library ({', '.join(sorted(FUNCTIONS))}).",
                        text,
                        token.start,
                    )
            elif not (_PATH if condition else _WORD).fullmatch(text):
                raise formula_error(f"{text!r} is not a valid name in a formula.", text, token.start)
    if depth:
        raise formula_error("Unbalanced '(' in the formula.", "(")
    return tokens


def _paths_merge(tokens: list[Token]) -> list[Token]:
    """`a . b . c` -> one VAR `a.b.c`; `{ user . x }` -> one PLACEHOLDER `x`."""
    merged: list[Token] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.token_type == TokenType.L_BRACE:
            inner = tokens[index + 1 : index + 5]
            kinds = [t.token_type for t in inner]
            if (
                kinds == [TokenType.VAR, TokenType.DOT, TokenType.VAR, TokenType.R_BRACE]
                and inner[0].text.lower() == "user"
                and _WORD.fullmatch(inner[2].text)
            ):
                merged.append(
                    Token(TokenType.PLACEHOLDER, inner[2].text, token.line, token.col, token.start, inner[3].end)
                )
                index += 5
                continue
            end = next((t for t in tokens[index:] if t.token_type == TokenType.R_BRACE), token)
            shown = "".join(t.text for t in tokens[index : tokens.index(end) + 1]) if end is not token else "{"
            raise formula_error(
                f"{shown} is not a placeholder: write {{user.<attribute>}}, e.g. {{user.department}}.",
                shown,
                token.start,
            )
        if token.token_type == TokenType.VAR and merged and merged[-1].token_type == TokenType.DOT:
            dot = merged.pop()
            previous = merged[-1] if merged else None
            if previous is None or previous.token_type != TokenType.VAR:
                raise formula_error("A '.' joins the names of a path, e.g. sold_by.region.", ".", dot.start)
            merged[-1] = Token(
                TokenType.VAR, f"{previous.text}.{token.text}", previous.line, previous.col, previous.start, token.end
            )
            index += 1
            continue
        merged.append(token)
        index += 1
    if merged and merged[-1].token_type == TokenType.DOT:
        raise formula_error("A path cannot end with '.'.", ".", merged[-1].start)
    return merged


def snake_case(name: str) -> str:
    """`StartCount` -> `start_count`: how a formula may name a metric."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
