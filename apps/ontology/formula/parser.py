"""Formula text -> AST (apps/ontology/types/formula.py), then the checks that need the ontology:
which names are attributes and which are metrics, where aggregates may
appear, and each function's arguments (docs/formulas.md).

Grammar, loosest binding first:

    formula    := or
    or         := and (OR and)*
    and        := not (AND not)*
    not        := NOT not | comparison
    comparison := additive [ (= | != | <> | < | <= | > | >=) additive
                            | IS [NOT] NULL | [NOT] IN (expr, ...)
                            | [NOT] BETWEEN additive AND additive | [NOT] LIKE additive ]
    additive   := term ((+ | -) term)*
    term       := unary ((* | / | %) unary)*
    unary      := (- | +) unary | primary
    primary    := number | 'string' | TRUE | FALSE | NULL | name | call | ( formula )
                | CASE (WHEN formula THEN formula)+ [ELSE formula] END
    call       := FUNCTION ( [args] ) [WHERE or]

A `WHERE` filter belongs to the aggregate call just before it and extends as
far as a condition can; parenthesise a filtered aggregate to combine it with
others: `(COUNT(policy_id) WHERE status = 'Active') / COUNT(policy_id)`.
"""

from collections.abc import Callable, Mapping
from decimal import Decimal

from sqlglot.tokens import Token, TokenType

from apps.core.errors import AppError
from apps.ontology.formula.tokens import formula_error, formula_tokens
from apps.ontology.formula.typecheck import condition_type_check, formula_type_check
from apps.ontology.types import formula as n
from apps.ontology.types.formula import AGGREGATES, BOUNDARIES, PERIOD_WRAPPERS, SCALARS

COMPARISONS = {
    TokenType.EQ: "=", TokenType.NEQ: "!=", TokenType.GT: ">", TokenType.GTE: ">=", TokenType.LT: "<",
    TokenType.LTE: "<=",
}  # fmt: skip


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    # -- token helpers --
    def peek(self, offset: int = 0) -> Token | None:
        at = self.index + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def is_(self, kind: TokenType, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.token_type == kind

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise AppError("The formula ends too early.", code="invalid_formula")
        self.index += 1
        return token

    def accept(self, kind: TokenType) -> Token | None:
        return self.take() if self.is_(kind) else None

    def expect(self, kind: TokenType, what: str) -> Token:
        token = self.peek()
        if token is None or token.token_type != kind:
            found = token.text if token else "the end of the formula"
            raise formula_error(f"Expected {what}, found {found}.", found, token.start if token else None)
        return self.take()

    # -- grammar --
    def formula(self) -> n.Node:
        node = self.or_()
        if self.peek() is not None:
            token = self.peek()
            raise formula_error(f"Unexpected {token.text} after a complete formula.", token.text, token.start)
        return node

    def or_(self) -> n.Node:
        node = self.and_()
        while token := self.accept(TokenType.OR):
            node = n.Binary("OR", node, self.and_(), token.start)
        return node

    def and_(self) -> n.Node:
        node = self.not_()
        while token := self.accept(TokenType.AND):
            node = n.Binary("AND", node, self.not_(), token.start)
        return node

    def not_(self) -> n.Node:
        if token := self.accept(TokenType.NOT):
            return n.Unary("NOT", self.not_(), token.start)
        return self.comparison()

    def comparison(self) -> n.Node:
        left = self.additive()
        token = self.peek()
        if token is None:
            return left
        if token.token_type in COMPARISONS:
            self.take()
            return n.Binary(COMPARISONS[token.token_type], left, self.additive(), token.start)
        if self.accept(TokenType.IS):
            negated = bool(self.accept(TokenType.NOT))
            self.expect(TokenType.NULL, "NULL after IS")
            return n.IsNull(left, negated, token.start)
        negated = False
        if self.is_(TokenType.NOT) and any(self.is_(k, 1) for k in (TokenType.IN, TokenType.BETWEEN, TokenType.LIKE)):
            self.take()
            negated = True
        if self.accept(TokenType.IN):
            self.expect(TokenType.L_PAREN, "( after IN")
            items = [self.or_()]
            while self.accept(TokenType.COMMA):
                items.append(self.or_())
            self.expect(TokenType.R_PAREN, ") closing the IN list")
            return n.InList(left, tuple(items), negated, token.start)
        if self.accept(TokenType.BETWEEN):
            low = self.additive()
            self.expect(TokenType.AND, "AND in BETWEEN ... AND ...")
            return n.Between(left, low, self.additive(), negated, token.start)
        if self.accept(TokenType.LIKE):
            node = n.Binary("LIKE", left, self.additive(), token.start)
            return n.Unary("NOT", node, token.start) if negated else node
        return left

    def additive(self) -> n.Node:
        node = self.term()
        while self.is_(TokenType.PLUS) or self.is_(TokenType.DASH):
            token = self.take()
            node = n.Binary(token.text, node, self.term(), token.start)
        return node

    def term(self) -> n.Node:
        node = self.unary()
        while self.is_(TokenType.STAR) or self.is_(TokenType.SLASH) or self.is_(TokenType.MOD):
            token = self.take()
            node = n.Binary(token.text, node, self.unary(), token.start)
        return node

    def unary(self) -> n.Node:
        if self.is_(TokenType.DASH) or self.is_(TokenType.PLUS):
            token = self.take()
            return n.Unary(token.text, self.unary(), token.start)
        return self.primary()

    def primary(self) -> n.Node:
        token = self.take()
        kind = token.token_type
        if kind == TokenType.NUMBER:
            return n.Number(Decimal(token.text), token.start)
        if kind == TokenType.STRING:
            return n.String(token.text, token.start)
        if kind in (TokenType.TRUE, TokenType.FALSE):
            return n.Boolean(kind == TokenType.TRUE, token.start)
        if kind == TokenType.NULL:
            return n.Null(token.start)
        if kind == TokenType.L_PAREN:
            node = self.or_()
            self.expect(TokenType.R_PAREN, ")")
            return node
        if kind == TokenType.CASE:
            return self.case(token)
        if kind == TokenType.PLACEHOLDER:  # only conditions tokenize one (tokens.py)
            return n.Placeholder(token.text, token.start)
        if kind == TokenType.VAR:
            return self.call(token) if self.is_(TokenType.L_PAREN) else n.Name(token.text, token.start)
        raise formula_error(f"Unexpected {token.text} in the formula.", token.text, token.start)

    def case(self, start: Token) -> n.Node:
        whens = []
        while self.accept(TokenType.WHEN):
            condition = self.or_()
            self.expect(TokenType.THEN, "THEN")
            whens.append((condition, self.or_()))
        if not whens:
            raise formula_error("CASE needs at least one WHEN ... THEN ...", "CASE", start.start)
        default = self.or_() if self.accept(TokenType.ELSE) else None
        self.expect(TokenType.END, "END closing the CASE")
        return n.Case(tuple(whens), default, start.start)

    def call(self, name: Token) -> n.Node:
        function = name.text.upper()
        self.expect(TokenType.L_PAREN, "(")
        args: list[n.Node] = []
        if not self.accept(TokenType.R_PAREN):
            if self.is_(TokenType.STAR) and self.is_(TokenType.R_PAREN, 1):
                args.append(n.Star(self.take().start))
            else:
                args.append(self.or_())
                while self.accept(TokenType.COMMA):
                    args.append(self.or_())
            self.expect(TokenType.R_PAREN, f") closing {function}(")
        where = self.or_() if self.accept(TokenType.WHERE) else None
        return n.Call(function, tuple(args), where, name.start)


# --- checks against the ontology ---------------------------------------------------------


class _Checker:
    """Walks the AST in one of three places: `top` (outside aggregates),
    `aggregate` (an aggregate's arguments) and `filter` (a WHERE condition)."""

    def __init__(self, attributes: set[str], is_metric: Callable[[str], bool], entity: str | None) -> None:
        self.attribute_codes = attributes
        self.is_metric = is_metric
        self.entity = entity
        self.attributes: set[str] = set()
        self.metrics: set[str] = set()
        self.functions: set[str] = set()
        self.aggregates = 0

    def unknown(self, node: n.Name) -> AppError:
        where = f"entity {self.entity!r}" if self.entity else "any metric (give the metric an entity to use attributes)"
        return AppError(
            f"Unknown name {node.name!r} in the formula: it is not an attribute of {where} nor a metric.",
            code="unknown_reference",
            details={"token": node.name, "position": node.position},
        )

    def visit(self, node: n.Node, place: str) -> None:
        if isinstance(node, n.Name):
            self.name(node, place)
        elif isinstance(node, n.Call):
            self.call(node, place)
        elif isinstance(node, n.Star):
            raise formula_error("* is only allowed as COUNT(*).", "*", node.position)
        elif isinstance(node, n.Unary):
            self.visit(node.operand, place)
        elif isinstance(node, n.Binary):
            self.visit(node.left, place)
            self.visit(node.right, place)
        elif isinstance(node, n.IsNull):
            self.visit(node.operand, place)
        elif isinstance(node, n.InList):
            for child in (node.operand, *node.items):
                self.visit(child, place)
        elif isinstance(node, n.Between):
            for child in (node.operand, node.low, node.high):
                self.visit(child, place)
        elif isinstance(node, n.Case):
            for condition, value in node.whens:
                self.visit(condition, place)
                self.visit(value, place)
            if node.default is not None:
                self.visit(node.default, place)

    def name(self, node: n.Name, place: str) -> None:
        is_attribute = node.name in self.attribute_codes
        if place == "top":
            if self.is_metric(node.name) and not is_attribute:
                self.metrics.add(node.name)
                return
            if is_attribute:
                raise AppError(
                    f"Attribute {node.name!r} is used outside an aggregate: a metric is computed per period, so "
                    f"aggregate it, e.g. SUM({node.name}) or COUNT_DISTINCT({node.name}).",
                    code="unaggregated_attribute",
                    details={"token": node.name, "position": node.position},
                )
            raise self.unknown(node)
        if is_attribute:
            self.attributes.add(node.name)
            return
        if self.is_metric(node.name):
            raise formula_error(
                f"Metric {node.name!r} cannot be used inside an aggregate or a filter; combine metrics outside them.",
                node.name,
                node.position,
            )
        raise self.unknown(node)

    def call(self, node: n.Call, place: str) -> None:
        function = node.function
        self.functions.add(function)
        if node.filter is not None and function not in AGGREGATES:
            raise formula_error(
                f"WHERE filters an aggregate such as COUNT(...); {function}(...) cannot take one.",
                "WHERE",
                node.position,
            )
        if function in AGGREGATES:
            if place != "top":
                raise formula_error(
                    f"{function}(...) cannot appear inside another aggregate or a filter.", function, node.position
                )
            self.aggregates += 1
            self.aggregate_arguments(node)
            for arg in node.args:
                if not isinstance(arg, n.Star):
                    self.visit(arg, "aggregate")
            if node.filter is not None:
                self.visit(node.filter, "filter")
        elif function in PERIOD_WRAPPERS:
            inner = node.args[0] if len(node.args) == 1 else None
            if place != "top" or not (isinstance(inner, n.Call) and inner.function in AGGREGATES):
                raise formula_error(
                    f"{function} takes one aggregate, e.g. {function}(COUNT_DISTINCT(policy_id) WHERE status = "
                    "'Active'), and is used outside other aggregates.",
                    function,
                    node.position,
                )
            self.visit(inner, "top")
        elif function in BOUNDARIES:
            if node.args or place == "top":
                raise formula_error(
                    f"{function}() takes no arguments and is used inside aggregates or filters, "
                    f"e.g. COUNT(policy_id) WHERE start_date >= {function}().",
                    function,
                    node.position,
                )
        else:
            low, high = SCALARS[function]
            if not low <= len(node.args) <= high:
                expected = str(low) if low == high else f"{low} to {high}"
                raise formula_error(
                    f"{function} takes {expected} arguments, not {len(node.args)}.", function, node.position
                )
            for arg in node.args:
                self.visit(arg, place)

    def aggregate_arguments(self, node: n.Call) -> None:
        function, args = node.function, node.args
        if function == "COUNT":
            ok = len(args) <= 1
        elif function == "PERCENTILE":
            ok = len(args) == 2 and isinstance(args[1], n.Number) and 0 <= args[1].value <= 1
            if not ok:
                raise formula_error(
                    "PERCENTILE takes a value and a fraction between 0 and 1, e.g. PERCENTILE(amount, 0.95).",
                    function,
                    node.position,
                )
        else:
            ok = len(args) == 1 and not isinstance(args[0], n.Star)
        if not ok:
            raise formula_error(f"{function} takes exactly one argument.", function, node.position)


def formula_parse(
    text: str,
    *,
    attributes: set[str] | frozenset[str] = frozenset(),
    is_metric: Callable[[str], bool] = lambda name: False,
    entity: str | None = None,
    attribute_types: Mapping[str, str] | None = None,
) -> n.Formula:
    """Parse and check `text`. `attributes` are the entity's attribute codes;
    `is_metric(name)` says whether a name refers to another metric. With
    `attribute_types` (code -> ontology data type; its codes are attributes
    too) the formula is also type-checked (typecheck.py). Raises AppError
    naming the offending token, function or attribute."""
    root = _Parser(formula_tokens(text)).formula()
    checker = _Checker(set(attributes) | set(attribute_types or ()), is_metric, entity)
    checker.visit(root, "top")
    if not checker.aggregates and not checker.metrics:
        raise AppError(
            "A formula needs at least one aggregate (SUM, COUNT, ...) or another metric.", code="invalid_formula"
        )
    if attribute_types is not None:
        formula_type_check(root, {code: attribute_types.get(code) for code in checker.attribute_codes})
    return n.Formula(root, frozenset(checker.attributes), frozenset(checker.metrics), frozenset(checker.functions))


def condition_parse(text: str, *, path_types: Mapping[str, str | None] | None = None) -> n.Condition:
    """Parse a row policy's predicate: the filter syntax of formulas (after
    `WHERE`) over attribute paths (`region`, `sold_by.region`) and
    `{user.<attribute>}` placeholders, without functions or aggregates. With
    `path_types` (every path the predicate names -> its ontology type, as
    the engine resolved them) it is also type-checked as a condition.
    Raises AppError naming the token and its position."""
    root = _Parser(formula_tokens(text, condition=True)).formula()
    paths: set[str] = set()
    placeholders: set[str] = set()

    def visit(node: n.Node) -> None:
        if isinstance(node, n.Name):
            paths.add(node.name)
        elif isinstance(node, n.Placeholder):
            placeholders.add(node.name)
        elif isinstance(node, n.Call | n.Star):
            shown = node.function if isinstance(node, n.Call) else "*"
            raise formula_error(
                f"{shown} is not allowed in a row policy: a predicate compares attributes with values, "
                "e.g. region = 'EU'.",
                shown,
                node.position,
            )
        elif isinstance(node, n.Unary):
            visit(node.operand)
        elif isinstance(node, n.Binary):
            visit(node.left)
            visit(node.right)
        elif isinstance(node, n.IsNull):
            visit(node.operand)
        elif isinstance(node, n.InList):
            for child in (node.operand, *node.items):
                visit(child)
        elif isinstance(node, n.Between):
            for child in (node.operand, node.low, node.high):
                visit(child)
        elif isinstance(node, n.Case):
            for condition, value in node.whens:
                visit(condition)
                visit(value)
            if node.default is not None:
                visit(node.default)

    visit(root)
    if path_types is not None:
        condition_type_check(root, path_types)
    return n.Condition(root, frozenset(paths), frozenset(placeholders))
