"""Row policies (apps.governance, docs/access.md "Row policies") -> SQL
predicates on a scan.

A scan of entity E adds, when the caller has a policy on E, `(p1 OR p2 ...)`
over E's rows, each predicate's paths resolved from E as group-by paths are
(`region`, `sold_by.region`, joins added as needed). A scan that joins a
reference entity R (a group-by or filter path through a relationship, or a
policy's own path) adds R's policy too, its paths prefixed with the chain
of relationships that reached R: fact rows whose R row the caller may not
see drop out (and those with no R row: NULL is not true). Literals and
`{user.<attribute>}` values are bound parameters, never SQL text. A
predicate that no longer compiles (the ontology changed since it was
saved) hides the entity: 403, never unfiltered rows."""

from functools import lru_cache

from sqlglot import exp

from apps.calculations.compiler.expressions import Params, Scope, column, compile_node
from apps.calculations.compiler.values import value_convert
from apps.calculations.paths import PathResolver
from apps.calculations.types import AccessContext
from apps.core.errors import AppError
from apps.ontology.catalog import Catalog, EntitySpec
from apps.ontology.selectors.conditions import condition_parse
from apps.ontology.types import formula as n

MAX_ROUNDS = 4  # joins added by a joined entity's policy may reach another restricted entity


@lru_cache(maxsize=1024)
def _parsed(predicate: str) -> n.Condition:
    return condition_parse(predicate)


def policy_paths(context: AccessContext, entity: str) -> list[str]:
    """The paths the caller's policy on `entity` reads (for the router: a
    rollup answers only when all are its dimensions)."""
    policy = context.rows.policy(entity)
    if policy is None:
        return []
    paths: set[str] = set()
    for predicate in policy.predicates:
        try:
            paths |= _parsed(predicate).paths
        except AppError:
            continue  # compiling it fails closed (below)
    return sorted(paths)


def _value(node: n.Placeholder, context: AccessContext, beside: n.Node, type_of) -> n.Node:
    """The caller's value for a placeholder, as a literal node (compiled to a
    bound parameter) in the type of the attribute it is compared with; a
    value missing or not of that type is NULL, which no row equals."""
    value = context.rows.value(node.name)
    if value is None:
        return n.Null(node.position)
    if isinstance(beside, n.Name):
        try:
            value = value_convert(value, type_of(beside.name), path=beside.name)
        except AppError:
            return n.Null(node.position)
    return n.String(value, node.position)  # compile_node binds the value as it is


def _bound(node: n.Node, context: AccessContext, prefix: tuple[str, ...], type_of=None, beside=None) -> n.Node:
    """`node` with placeholders replaced by the caller's values and paths
    prefixed by the chain of relationships that reached the entity."""
    if isinstance(node, n.Placeholder):
        return _value(node, context, _bound(beside, context, prefix) if beside is not None else None, type_of)
    if isinstance(node, n.Name):
        return n.Name(".".join([*prefix, node.name]), node.position) if prefix else node
    if isinstance(node, n.Unary):
        return n.Unary(node.op, _bound(node.operand, context, prefix), node.position)
    if isinstance(node, n.Binary):
        left = _bound(node.left, context, prefix, type_of, node.right)
        right = _bound(node.right, context, prefix, type_of, node.left)
        return n.Binary(node.op, left, right, node.position)
    if isinstance(node, n.IsNull):
        return n.IsNull(_bound(node.operand, context, prefix), node.negated, node.position)
    if isinstance(node, n.InList):
        items = tuple(_bound(i, context, prefix, type_of, node.operand) for i in node.items)
        return n.InList(_bound(node.operand, context, prefix), items, node.negated, node.position)
    if isinstance(node, n.Between):
        low = _bound(node.low, context, prefix, type_of, node.operand)
        high = _bound(node.high, context, prefix, type_of, node.operand)
        return n.Between(_bound(node.operand, context, prefix), low, high, node.negated, node.position)
    if isinstance(node, n.Case):
        whens = tuple((_bound(c, context, prefix), _bound(v, context, prefix)) for c, v in node.whens)
        default = _bound(node.default, context, prefix) if node.default is not None else None
        return n.Case(whens, default, node.position)
    return node


def _hidden(entity: str, predicate: str, exc: AppError) -> AppError:
    return AppError(
        f"A row policy on {entity!r} ({predicate}) cannot be applied: {exc.message} Its data is not visible to you.",
        code="permission_denied",
        status_code=403,
        details={"entity": entity},
    )


def _entity_condition(
    params: Params, context: AccessContext, resolver: PathResolver, entity: str, prefix: tuple[str, ...]
) -> exp.Expression | None:
    policy = context.rows.policy(entity)
    if policy is None:
        return None
    tests = []
    for predicate in policy.predicates:
        try:

            def type_of(path: str) -> str:
                return resolver.column(path, what="row policy attribute").attribute.data_type

            root = _bound(_parsed(predicate).root, context, prefix, type_of)
            scope = Scope(
                params=params,
                attribute=lambda path: _column(resolver, path),
                aggregate=lambda node: (_ for _ in ()).throw(AppError("No aggregates in a row policy.")),
            )
            tests.append(compile_node(root, scope))
        except AppError as exc:
            raise _hidden(entity, predicate, exc) from exc
        except KeyError as exc:  # a rollup scan without the dimension: the router should have picked raw
            raise _hidden(entity, predicate, AppError(f"no dimension {exc}.")) from exc
    return exp.Paren(this=exp.or_(*tests)) if len(tests) > 1 else tests[0]


def _column(resolver: PathResolver, path: str) -> exp.Expression:
    target = resolver.column(path, what="row policy attribute")
    return column(target.alias, target.sql_name)


def policy_predicates(params: Params, context: AccessContext, entity: EntitySpec, resolver: PathResolver) -> list:
    """The caller's policy on `entity` and on every entity the scan joins."""
    if not context.rows.restricted:
        return []
    where = []
    own = _entity_condition(params, context, resolver, entity.code, ())
    if own is not None:
        where.append(own)
    applied: set[tuple[str, ...]] = set()
    for _ in range(MAX_ROUNDS):
        pending = [(chain, join) for chain, join in resolver.chains if chain not in applied]
        if not pending:
            break
        for chain, join in pending:
            applied.add(chain)
            joined = _entity_condition(params, context, resolver, join.entity.code, chain)
            if joined is not None:
                where.append(joined)
    return where


def policy_compile_check(*, catalog: Catalog, entity: str, predicate: str) -> None:
    """Compile `predicate` on `entity` as a scan would, and type-check it:
    raises AppError naming an unknown path, a type mismatch, ... (the save
    check of governance's row policies)."""
    spec = catalog.entities.get(entity)
    if spec is None:
        known = ", ".join(sorted(catalog.entities)) or "none"
        raise AppError(
            f"Unknown entity {entity!r} (entities: {known}).", code="unknown_entity", details={"entity": entity}
        )
    condition = condition_parse(predicate)
    resolver = PathResolver(catalog, spec)
    types = {}
    for path, position in _names(condition.root):
        if path in types:
            continue
        try:
            types[path] = resolver.column(path, what="row policy attribute").attribute.data_type
        except AppError as exc:
            exc.details = {**exc.details, "attribute": path, "position": position}
            raise
    condition_parse(predicate, path_types=types)


def _names(node: n.Node) -> list[tuple[str, int]]:
    """Every attribute path of a predicate with its position, in order."""
    if isinstance(node, n.Name):
        return [(node.name, node.position)]
    children: list[n.Node] = []
    if isinstance(node, n.Unary | n.IsNull):
        children = [node.operand]
    elif isinstance(node, n.Binary):
        children = [node.left, node.right]
    elif isinstance(node, n.InList):
        children = [node.operand, *node.items]
    elif isinstance(node, n.Between):
        children = [node.operand, node.low, node.high]
    elif isinstance(node, n.Case):
        children = [part for pair in node.whens for part in pair] + ([node.default] if node.default else [])
    found = [name for child in children for name in _names(child)]
    return sorted(found, key=lambda item: item[1])
