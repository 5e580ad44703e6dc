"""Real HTTP servers on 127.0.0.1 (a ThreadingHTTPServer in a thread) that
REST and GraphQL sources are read from in tests.

REST (`RestStandin`): 25 policies with a nested customer, served
- without pagination: GET /none -> {"data": {"items": [...]}}
- by page: GET /page?page=&page_size= -> {"data": {"items": [...]}}
- by offset: GET /offset?offset=&limit= -> [...] (the body is the list)
- by cursor: GET /cursor?cursor=&page_size= -> {"items": [...], "next": "..." | null}
- by Link header: GET /link?start= -> [...] with `Link: <...>; rel="next"`
- behind each auth: /auth/header (X-API-Key), /auth/query (?api_key=),
  /auth/basic, /auth/bearer, /auth/oauth (a token of POST /oauth/token,
  form client_credentials; `revoke_tokens()` makes the issued ones expire)
- faults: /limited (429 Retry-After: 1 on every first call, then the records),
  /fail (500), /malformed (not JSON), /away (302 to another host name).

GraphQL (`GraphQLStandin`): POST /graphql executing a real graphql-core
schema: `policies(first, after)` a Relay connection over the same records,
`broken` failing with an error; introspection answered unless
`introspection = False`."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import graphql

API_KEY = "k-secret-123"
USERNAME, PASSWORD = "reader", "pw-secret-456"
BEARER = "bearer-secret-789"
CLIENT_ID, CLIENT_SECRET = "client-a", "oauth-secret-000"


def policies(count: int = 25) -> list[dict[str, Any]]:
    return [
        {
            "id": n,
            "premium": n * 10.5,
            "active": n % 2 == 0,
            "start_date": f"2026-01-{n:02d}",
            "updated_at": f"2026-02-01T00:00:{n:02d}Z",
            "customer": {"id": f"C{n}", "address": {"city": "Oslo" if n % 2 else None}},
            "tags": ["a", str(n)],
        }
        for n in range(1, count + 1)
    ]


class _Server:
    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self.server.standin = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path with query, headers)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _RestHandler(_Handler):
    def do_POST(self) -> None:
        standin: RestStandin = self.server.standin  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        standin.record(self)
        if self.path != "/oauth/token":
            return self._answer(404, {"error": "no such path"})
        if form.get("grant_type") != "client_credentials" or (form.get("client_id"), form.get("client_secret")) != (
            CLIENT_ID,
            CLIENT_SECRET,
        ):
            return self._answer(401, {"error": "invalid_client"})
        with standin.lock:
            standin.issued += 1
            token = f"tok-{standin.issued}"
            standin.tokens.add(token)
        return self._answer(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def do_GET(self) -> None:
        standin: RestStandin = self.server.standin  # type: ignore[attr-defined]
        standin.record(self)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        records = standin.records
        path = parts.path
        if path == "/none":
            return self._answer(200, {"data": {"items": records}})
        if path == "/page":
            page, size = int(query.get("page", 1)), int(query.get("page_size", 10))
            return self._answer(200, {"data": {"items": records[(page - 1) * size : page * size]}})
        if path == "/offset":
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
            return self._answer(200, records[offset : offset + limit])
        if path == "/cursor":
            start, size = int(query.get("cursor") or 0), int(query.get("page_size", 10))
            following = start + size if start + size < len(records) else None
            return self._answer(200, {"items": records[start : start + size], "next": following and str(following)})
        if path == "/link":
            start = int(query.get("start", 0))
            headers = {}
            if start + 7 < len(records):
                following = f"{standin.url}/link?start={start + 7}"
                headers["Link"] = f'<{following}>; rel="next", <{standin.url}/link>; rel="first"'
            return self._answer(200, records[start : start + 7], headers)
        if path.startswith("/auth/"):
            if not self._authorised(path.removeprefix("/auth/"), query, standin):
                return self._answer(401, {"error": "unauthorised"})
            return self._answer(200, {"data": {"items": records[:3]}})
        if path == "/forbidden":
            return self._answer(403, {"error": "forbidden"})
        if path == "/limited":
            with standin.lock:
                standin.limited_calls += 1
                first = standin.limited_calls % 2 == 1
            if first:
                return self._answer(429, {"error": "slow down"}, {"Retry-After": "1"})
            return self._answer(200, {"data": {"items": records}})
        if path == "/fail":
            return self._answer(500, {"error": "internal"})
        if path == "/malformed":
            return self._answer(200, b'{"data": [1, 2')
        if path == "/away":
            port = standin.server.server_address[1]
            return self._answer(302, {}, {"Location": f"http://localhost:{port}/none"})
        if path == "/here":
            return self._answer(302, {}, {"Location": "/none"})
        return self._answer(404, {"error": "no such path"})

    def _authorised(self, kind: str, query: dict, standin: "RestStandin") -> bool:
        header = self.headers.get("Authorization", "")
        if kind == "header":
            return self.headers.get("X-API-Key") == API_KEY
        if kind == "query":
            return query.get("api_key") == API_KEY
        if kind == "basic":
            return header == "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        if kind == "bearer":
            return header == f"Bearer {BEARER}"
        if kind == "oauth":
            with standin.lock:
                return header.startswith("Bearer ") and header.removeprefix("Bearer ") in standin.tokens
        return False


class RestStandin(_Server):
    handler = _RestHandler

    def __init__(self, records: list[dict] | None = None) -> None:
        super().__init__()
        self.records = records if records is not None else policies()
        self.tokens: set[str] = set()
        self.issued = 0
        self.limited_calls = 0

    def record(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append((handler.command, handler.path, dict(handler.headers.items())))

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()


# --- GraphQL ------------------------------------------------------------------------------

SDL = """
scalar Date
scalar DateTime
type Address { city: String }
type Customer { id: ID!, address: Address }
type Policy {
  id: Int!
  premium: Float
  active: Boolean!
  startDate: Date
  updatedAt: DateTime
  code: String
  customer: Customer
  tags: [String!]
}
type PolicyEdge { node: Policy!, cursor: String! }
type PageInfo { hasNextPage: Boolean!, endCursor: String }
type PolicyConnection { edges: [PolicyEdge!]!, pageInfo: PageInfo! }
type Query {
  policies(first: Int, after: String): PolicyConnection!
  broken: PolicyConnection
}
"""


def _graphql_records(count: int) -> list[dict]:
    return [
        {
            "id": n,
            "premium": n * 1.5,
            "active": n % 3 == 0,
            "startDate": f"2026-03-{n:02d}",
            "updatedAt": f"2026-03-01T10:00:{n:02d}Z",
            "code": f"P-{n}",
            "customer": {"id": f"C{n}", "address": {"city": "Bergen"}},
            "tags": ["x"],
        }
        for n in range(1, count + 1)
    ]


class _GraphQLHandler(_Handler):
    def do_POST(self) -> None:
        standin: GraphQLStandin = self.server.standin  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        with standin.lock:
            standin.requests.append(("POST", self.path, dict(self.headers.items())))
            standin.queries.append(payload)
        if standin.token and self.headers.get("Authorization") != f"Bearer {standin.token}":
            return self._answer(401, {"errors": [{"message": "unauthorised"}]})
        text = payload.get("query", "")
        if not standin.introspection and "__schema" in text:
            return self._answer(200, {"errors": [{"message": "GraphQL introspection is not allowed"}]})
        result = graphql.graphql_sync(
            standin.schema, text, root_value=standin.root, variable_values=payload.get("variables") or {}
        )
        return self._answer(200, result.formatted)


class GraphQLStandin(_Server):
    handler = _GraphQLHandler

    def __init__(self, count: int = 23) -> None:
        super().__init__()
        self.schema = graphql.build_schema(SDL)
        self.records = _graphql_records(count)
        self.introspection = True
        self.token = ""
        self.queries: list[dict] = []

        def policies_field(info, first: int | None = None, after: str | None = None) -> dict:
            start = int(after) if after else 0
            size = first or len(self.records)
            page = self.records[start : start + size]
            end = start + len(page)
            return {
                "edges": [{"node": node, "cursor": str(start + i + 1)} for i, node in enumerate(page)],
                "pageInfo": {"hasNextPage": end < len(self.records), "endCursor": str(end) if page else None},
            }

        def broken_field(info) -> dict:
            raise ValueError("the policy store is offline")

        self.root = {"policies": policies_field, "broken": broken_field}

    @property
    def endpoint(self) -> str:
        return f"{self.url}/graphql"
