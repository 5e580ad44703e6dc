"""GraphQL sources (docs/sources.md, "GraphQL APIs"): an endpoint, an auth
like REST's, and queries, each an object of the connection. A query's
records are at `connection_path` in `data`: a Relay connection (records from
`edges[].node`, paged with the `first`/`after` variables while
`pageInfo.hasNextPage`), or a plain list. Queries are parsed when the
connection is saved; an answer with `errors` fails naming the first one.
Discovery types the node's selected fields by introspection, or by sampling
records where the server has introspection off."""

from collections.abc import Iterator
from typing import Any

import graphql
from django.conf import settings

from apps.connectors.adapters import adapter_register
from apps.connectors.adapters.base import Adapter
from apps.connectors.adapters.records import (
    columns_infer,
    flatten,
    json_loads,
    paged_extraction,
    path_get,
    path_present,
    records_sample,
)
from apps.connectors.http_client import SourceHttpClient, auth_validate, http_client, tls_validate, url_check
from apps.connectors.types import (
    Extraction,
    ExtractRequest,
    Preview,
    SourceColumn,
    SourceError,
    SourceObject,
    TestOutcome,
)
from apps.core.errors import AppError

_SCALARS = {"Int": "integer", "Float": "decimal", "Boolean": "boolean", "String": "string", "ID": "string",
            "Date": "date", "DateTime": "timestamp", "Datetime": "timestamp", "Timestamp": "timestamp",
            "JSON": "json", "Decimal": "decimal", "BigInt": "integer"}  # fmt: skip
_MAX_PAGES = 1_000_000


def _document(query: Any, where: str) -> graphql.DocumentNode:
    if not isinstance(query, str) or not query.strip():
        raise AppError(f"{where}.query is required: the GraphQL query text.", code="invalid_settings")
    try:
        return graphql.parse(query)
    except graphql.GraphQLError as exc:
        location = f" (line {exc.locations[0].line}, column {exc.locations[0].column})" if exc.locations else ""
        raise AppError(f"{where}.query does not parse: {exc.message}{location}.", code="invalid_settings") from None


def _operation(document: graphql.DocumentNode) -> graphql.OperationDefinitionNode | None:
    return next((d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)), None)


def _variables_declared(document: graphql.DocumentNode) -> set[str]:
    operation = _operation(document)
    return {v.variable.name.value for v in (operation.variable_definitions or ())} if operation else set()


@adapter_register("graphql")
class GraphQLAdapter(Adapter):
    @classmethod
    def validate_settings(cls, settings_: dict, credentials: dict | None = None) -> None:
        if not isinstance(settings_, dict):
            raise AppError("settings must be an object.", code="invalid_settings")
        url_check(settings_.get("endpoint"), "settings.endpoint")
        auth_validate(settings_.get("auth"), credentials)
        tls_validate(settings_)
        queries = settings_.get("queries", [])
        if not isinstance(queries, list):
            raise AppError("settings.queries must be a list of queries.", code="invalid_settings")
        names: set[str] = set()
        for position, query in enumerate(queries):
            where = f"settings.queries[{position}]"
            if not isinstance(query, dict) or not isinstance(query.get("name"), str) or not query["name"].strip():
                raise AppError(f"{where} needs a name and a query.", code="invalid_settings")
            if query["name"] in names:
                raise AppError(f"{where}.name {query['name']!r} is used by another query.", code="invalid_settings")
            names.add(query["name"])
            document = _document(query.get("query"), where)
            if _operation(document) is None or _operation(document).operation != graphql.OperationType.QUERY:
                raise AppError(f"{where}.query must be a query operation (not a mutation).", code="invalid_settings")
            if not isinstance(query.get("variables", {}), dict):
                raise AppError(f"{where}.variables must be an object.", code="invalid_settings")
            if not isinstance(query.get("connection_path", ""), str) or not query.get("connection_path"):
                raise AppError(
                    f'{where}.connection_path is required: the dotted path in data to the records ("policies").',
                    code="invalid_settings",
                )

    # --- Queries ----------------------------------------------------------------------

    def _queries(self) -> list[dict]:
        return list(self.spec.settings.get("queries") or [])

    def _query(self, name: str) -> dict:
        for query in self._queries():
            if query.get("name") == name:
                return query
        raise SourceError(f"The connection has no query named {name!r}.", stage="query", code="unknown_object",
                          status_code=404)  # fmt: skip

    def _post(self, client: SourceHttpClient, text: str, variables: dict, where: str) -> dict:
        response = client.request(
            "POST", str(self.spec.settings["endpoint"]), json={"query": text, "variables": variables}, what=where
        )
        body = json_loads(response.text, where)
        if not isinstance(body, dict):
            raise SourceError(f"{where} answered with something that is not a GraphQL answer.", stage="query",
                              code="malformed_answer")  # fmt: skip
        errors = body.get("errors")
        if errors:
            first = errors[0] if isinstance(errors, list) and errors else {}
            message = str(first.get("message", "an error")) if isinstance(first, dict) else str(first)
            path = first.get("path") if isinstance(first, dict) else None
            at = f" at {'.'.join(str(p) for p in path)}" if path else ""
            raise SourceError(f"{where} answered with an error{at}: {message[:300]}", stage="query",
                              code="graphql_error")  # fmt: skip
        return body.get("data") or {}

    def pages(self, client: SourceHttpClient, query: dict) -> Iterator[list[dict[str, Any]]]:
        where = f"Query {query['name']!r}"
        text = str(query["query"])
        declared = _variables_declared(graphql.parse(text))
        variables = dict(query.get("variables") or {})
        if "first" in declared and "first" not in variables:
            variables["first"] = int(self.spec.settings.get("page_size", 100))
        after = None
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            if after is not None:
                variables["after"] = after
            data = self._post(client, text, variables, where)
            found = path_get(data, query["connection_path"])
            if not path_present(found):
                raise SourceError(f"The answer of {where} has no {query['connection_path']!r} in data.",
                                  stage="query", code="records_path_missing")  # fmt: skip
            if found is None:
                return
            if isinstance(found, list):
                yield [flatten(record) for record in found]
                return
            if not isinstance(found, dict) or not isinstance(found.get("edges"), list):
                raise SourceError(f"{query['connection_path']!r} of {where} is neither a list nor a Relay connection "
                                  "with edges.", stage="query", code="records_not_a_list")  # fmt: skip
            yield [flatten((edge or {}).get("node")) for edge in found["edges"]]
            info = found.get("pageInfo") or {}
            cursor = info.get("endCursor")
            if not info.get("hasNextPage") or "after" not in declared or not cursor or str(cursor) in seen:
                return  # a cursor seen before: the server ignores `after`; stop rather than loop
            seen.add(str(cursor))
            after = cursor
        raise SourceError(f"{where} kept paging past {_MAX_PAGES} pages.", stage="query", code="too_many_pages")

    # --- Introspection ------------------------------------------------------------------

    def _schema(self, client: SourceHttpClient) -> graphql.GraphQLSchema | None:
        try:
            data = self._post(client, graphql.get_introspection_query(), {}, "The introspection query")
            return graphql.build_client_schema(data)
        except (SourceError, TypeError, KeyError, ValueError, graphql.GraphQLError):
            return None

    def _typed_columns(self, schema: graphql.GraphQLSchema, query: dict) -> tuple[SourceColumn, ...] | None:
        """The node's selected fields typed from the schema; None when the
        query cannot be followed (fragments, a path not in the schema)."""
        operation = _operation(graphql.parse(str(query["query"])))
        parent: Any = schema.query_type
        selection = operation.selection_set if operation else None
        steps = [p for p in str(query["connection_path"]).split(".") if p] + ["edges", "node"]
        relay = True
        for position, step in enumerate(steps):
            field = _selected(selection, step)
            if field is None:
                if position == len(steps) - 2 and step == "edges":  # a plain list, not a connection
                    relay = False
                    break
                return None
            definition = getattr(graphql.get_named_type(parent), "fields", {}).get(field.name.value)
            if definition is None:
                return None
            parent, selection = definition.type, field.selection_set
        if not relay and not isinstance(graphql.get_nullable_type(parent), graphql.GraphQLList):
            return None
        columns: list[SourceColumn] = []
        _columns_of(graphql.get_named_type(parent), selection, "", False, columns, depth=0)
        return tuple(columns) or None

    # --- Operations -------------------------------------------------------------------

    def extract(self, request: ExtractRequest) -> Extraction:
        if request.source_query:
            raise SourceError("GraphQL connections read their declared queries.", stage="query", code="no_queries")
        query = self._query(request.source_object)
        client = http_client(self.spec)
        return paged_extraction(self.pages(client, query), request, close=client.close)

    def _sample(self, client: SourceHttpClient, query: dict, limit: int) -> list[dict[str, Any]]:
        return records_sample(self.pages(client, query), limit)

    def discover(self) -> list[SourceObject]:
        objects = []
        with http_client(self.spec) as client:
            schema = self._schema(client)
            for query in self._queries():
                columns = self._typed_columns(schema, query) if schema else None
                if columns is None:
                    columns = columns_infer(self._sample(client, query, settings.SOURCES_DISCOVERY_SAMPLE))
                objects.append(SourceObject(name=query["name"], kind="query", columns=columns))
        return objects

    def preview(self, *, source_object: str = "", source_query: str = "", limit: int) -> Preview:
        if source_query:
            raise SourceError("GraphQL connections read their declared queries.", stage="query", code="no_queries")
        query = self._query(source_object)
        with http_client(self.spec) as client:
            rows = self._sample(client, query, max(1, min(limit, settings.SOURCES_PREVIEW_MAX_ROWS)))
            # Typed as discovery types them: by introspection when the schema
            # answers and the query can be followed, else from the records.
            schema = self._schema(client)
        columns = self._typed_columns(schema, query) if schema else None
        return Preview(columns=columns or columns_infer(rows), rows=rows)

    def test(self) -> TestOutcome:
        try:
            queries = self._queries()
            with http_client(self.spec) as client:
                if not queries:
                    self._post(client, "{ __typename }", {}, "The endpoint")
                    return TestOutcome(True, "query", "The endpoint answered; declare queries to read records.")
                page = next(self.pages(client, queries[0]), [])
        except SourceError as exc:
            return TestOutcome(False, exc.stage, exc.message)
        return TestOutcome(True, "query", f"Query {queries[0]['name']!r} answered with {len(page)} records.")


def _selected(selection: graphql.SelectionSetNode | None, key: str) -> graphql.FieldNode | None:
    """The field of a selection answered under `key` (its alias or name)."""
    for node in selection.selections if selection else ():
        if isinstance(node, graphql.FieldNode) and (node.alias or node.name).value == key:
            return node
    return None


def _scalar_type(named: Any) -> str:
    if isinstance(named, graphql.GraphQLEnumType):
        return "string"
    if isinstance(named, graphql.GraphQLScalarType):
        return _SCALARS.get(named.name, "string")
    return "json"


def _columns_of(parent: Any, selection, prefix: str, nullable: bool, out: list[SourceColumn], *, depth: int) -> None:
    """Columns of the fields selected on `parent`: scalars typed, objects
    flattened one level with dotted names (deeper ones and lists as json)."""
    fields = getattr(parent, "fields", {})
    for node in selection.selections if selection else ():
        if not isinstance(node, graphql.FieldNode) or node.name.value not in fields:
            continue
        key = (node.alias or node.name).value
        field_type = fields[node.name.value].type
        field_nullable = nullable or not isinstance(field_type, graphql.GraphQLNonNull)
        bare = graphql.get_nullable_type(field_type)
        named = graphql.get_named_type(field_type)
        name = f"{prefix}{key}"
        if isinstance(bare, graphql.GraphQLList):
            out.append(SourceColumn(name, "json", field_nullable, source_type=str(field_type)))
        elif isinstance(named, graphql.GraphQLObjectType | graphql.GraphQLInterfaceType) and node.selection_set:
            if depth >= 8:  # as deep as the records are flattened
                out.append(SourceColumn(name, "json", field_nullable, source_type=str(field_type)))
            else:
                _columns_of(named, node.selection_set, f"{name}.", field_nullable, out, depth=depth + 1)
        else:
            out.append(SourceColumn(name, _scalar_type(named), field_nullable, source_type=str(field_type)))
