"""A Microsoft Graph stand-in for tests: a real threaded HTTP server on
127.0.0.1 that speaks the parts of Graph's protocol directory sync and
sign-in use, so they are tested through the same `requests` code that talks
to Graph in production.

- `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant; checks the
  tenant, application id, secret and `.default` scope; answers a bearer token
  (Azure AD's OAuth errors otherwise: `invalid_client` AADSTS7000215 ...).
- Every Graph call checks the bearer (401 InvalidAuthenticationToken).
- `GET /v1.0/users/delta` and `GET /v1.0/groups/delta`: pages of `page_size`
  items linked by `@odata.nextLink`, the last one with an `@odata.deltaLink`
  carrying a token; a delta link shows what changed since: adds, updates,
  `@removed` users and groups, and, as Graph does only when the round's first
  request selected `members` (`$select=...,members`; the selection is kept in
  the round's links), member adds and removals in `members@delta`.
- `POST /v1.0/users/{id}/getMemberObjects`: the ids of the user's groups.
- Switches: `expire_delta_tokens()` (the next delta link call answers 410
  `syncStateNotFound`), `throttle(n)` (the next n Graph calls answer 429 with
  `Retry-After: 1`), `fail(n)` (503s), `hold()` (Graph calls wait until
  `release()`).

Seeded from a plain dict, so tests and the development provider's seeded
directory can share ids:

    {"users": [{"id": "...", "displayName": "...", "userPrincipalName": "...", "mail": "...",
                "accountEnabled": True, "department": "..."}],
     "groups": [{"id": "...", "displayName": "...", "description": "...", "members": ["<user id>"]}]}
"""

import copy
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

RESOURCES = ("users", "groups")


class GraphStandIn:
    def __init__(
        self,
        directory: dict[str, list[dict[str, Any]]] | None = None,
        *,
        tenant_id: str = "11111111-2222-3333-4444-555555555555",
        application_id: str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        client_secret: str = "graph-stand-in-secret",  # noqa: S107 - the stand-in's own test secret
        page_size: int = 2,
        token_lifetime: int = 3599,
    ) -> None:
        self.tenant_id = tenant_id
        self.application_id = application_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.token_lifetime = token_lifetime
        self.lock = threading.RLock()
        self.version = 0  # moves on with every change
        self.epoch = 1  # delta tokens of an older epoch have expired
        # id -> (object without members, version of its last change, deleted)
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"users": {}, "groups": {}}
        self.changed_at: dict[str, dict[str, int]] = {"users": {}, "groups": {}}
        self.deleted: dict[str, dict[str, int]] = {"users": {}, "groups": {}}
        self.members: dict[str, set[str]] = {}
        self.member_log: list[tuple[int, str, str, bool]] = []  # (version, group, user, added)
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self._snapshots: dict[str, list[dict[str, Any]]] = {}
        self._snapshot_tail: dict[str, str] = {}
        self._throttle = 0
        self._fail = 0
        self._released = threading.Event()
        self._released.set()
        self.waiting = threading.Event()  # set while a call is held
        self._server: ThreadingHTTPServer | None = None
        for user in (directory or {}).get("users", []):
            self.user_put(user)
        for group in (directory or {}).get("groups", []):
            self.group_put(group)

    # --- the directory ------------------------------------------------------
    def _touch(self, resource: str, object_id: str) -> None:
        self.version += 1
        self.changed_at[resource][object_id] = self.version
        self.deleted[resource].pop(object_id, None)

    def user_put(self, user: dict[str, Any]) -> None:
        """Add a user, or change the fields given of one (by `id`)."""
        with self.lock:
            current = self.objects["users"].get(user["id"], {})
            self.objects["users"][user["id"]] = {"accountEnabled": True, **current, **copy.deepcopy(user)}
            self._touch("users", user["id"])

    def group_put(self, group: dict[str, Any]) -> None:
        """Add a group (with `members`: user ids), or change the fields given of one."""
        with self.lock:
            fields = {k: v for k, v in copy.deepcopy(group).items() if k != "members"}
            current = self.objects["groups"].get(group["id"], {})
            self.objects["groups"][group["id"]] = {**current, **fields}
            self._touch("groups", group["id"])
            self.members.setdefault(group["id"], set())
            for user_id in group.get("members", []):
                self.member_add(group["id"], user_id)

    def _delete(self, resource: str, object_id: str) -> None:
        with self.lock:
            self.objects[resource].pop(object_id)
            self.version += 1
            self.deleted[resource][object_id] = self.version
            self.changed_at[resource].pop(object_id, None)

    def user_delete(self, user_id: str) -> None:
        with self.lock:
            for group_id, members in self.members.items():
                if user_id in members:
                    self.member_remove(group_id, user_id)
            self._delete("users", user_id)

    def group_delete(self, group_id: str) -> None:
        with self.lock:
            self._delete("groups", group_id)
            self.members.pop(group_id, None)

    def member_add(self, group_id: str, user_id: str) -> None:
        with self.lock:
            self.version += 1
            self.members.setdefault(group_id, set()).add(user_id)
            self.member_log.append((self.version, group_id, user_id, True))

    def member_remove(self, group_id: str, user_id: str) -> None:
        with self.lock:
            self.version += 1
            self.members[group_id].discard(user_id)
            self.member_log.append((self.version, group_id, user_id, False))

    # --- switches -------------------------------------------------------------
    def expire_delta_tokens(self) -> None:
        with self.lock:
            self.epoch += 1

    def throttle(self, count: int) -> None:
        """The next `count` Graph calls answer 429 with Retry-After: 1."""
        with self.lock:
            self._throttle = count

    def fail(self, count: int) -> None:
        """The next `count` Graph calls answer 503."""
        with self.lock:
            self._fail = count

    def hold(self) -> None:
        """Graph calls wait (a run stays in progress) until `release()`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    # --- serving ----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "GraphStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                standin._handle(self, "GET")

            def do_POST(self):
                standin._handle(self, "POST")

            def log_message(self, format, *args):  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        with self.lock:
            self.requests.append((method, handler.path))
        try:
            status, payload, headers = self._route(method, parts.path, parse_qs(parts.query), body, handler.headers)
        except Exception as exc:  # a bug in the stand-in must show, not hang the client
            status, payload, headers = 500, {"error": {"code": "standInBug", "message": repr(exc)}}, {}
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method, path, query, body, headers):
        if method == "POST" and path.endswith("/oauth2/v2.0/token"):
            return self._token(path, body)
        if headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        if not self._released.is_set():
            self.waiting.set()
            self._released.wait(30)
            self.waiting.clear()
        with self.lock:
            if self._throttle > 0:
                self._throttle -= 1
                return (*_graph_error(429, "TooManyRequests", "Too many requests.")[:2], {"Retry-After": "1"})
            if self._fail > 0:
                self._fail -= 1
                return _graph_error(503, "serviceNotAvailable", "Service unavailable.")
            if method == "GET" and path in ("/v1.0/users/delta", "/v1.0/groups/delta"):
                return self._delta(path.split("/")[2], query)
            if method == "POST" and path.startswith("/v1.0/users/") and path.endswith("/getMemberObjects"):
                return self._member_objects(path.split("/")[3])
        return _graph_error(400, "BadRequest", f"Resource not found for the segment '{path}'.")

    def _token(self, path, body):
        with self.lock:
            self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if path.split("/")[1] != self.tenant_id:
            return _oauth_error(400, "invalid_request", f"AADSTS90002: Tenant '{path.split('/')[1]}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "AADSTS70003: The grant type is not supported.")
        if form.get("client_id") != self.application_id:
            return _oauth_error(400, "unauthorized_client", "AADSTS700016: Application not found in the directory.")
        if not secrets.compare_digest(form.get("client_secret", ""), self.client_secret):
            return _oauth_error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if not form.get("scope", "").endswith("/.default"):
            return _oauth_error(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.")
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        return 200, {"token_type": "Bearer", "expires_in": self.token_lifetime, "access_token": token}, {}

    def _delta(self, resource, query):
        if "$skiptoken" in query:
            return self._page(query["$skiptoken"][0])
        since = None  # the first round: everything
        # Graph encodes the first request's parameters into the round's tokens.
        with_members = "members" in query.get("$select", [""])[0].split(",")
        if "$deltatoken" in query:
            epoch, _, rest = query["$deltatoken"][0].partition(".")
            version, _, selected = rest.partition(".")
            if not epoch.isdigit() or int(epoch) != self.epoch or not version.isdigit():
                return _graph_error(410, "syncStateNotFound", "The sync state generation is not found.")
            since, with_members = int(version), selected == "members"
        items = self._changes(resource, since, with_members=with_members)
        selected = ".members" if with_members else ""
        tail = f"{self.url}/v1.0/{resource}/delta?$deltatoken={self.epoch}.{self.version}{selected}"
        snapshot = secrets.token_urlsafe(8)
        self._snapshots[snapshot] = items
        self._snapshot_tail[snapshot] = tail
        return self._page(f"{snapshot}.0")

    def _page(self, skiptoken):
        snapshot, _, offset = skiptoken.partition(".")
        if snapshot not in self._snapshots:
            return _graph_error(400, "BadRequest", "Invalid skip token.")
        items, start = self._snapshots[snapshot], int(offset)
        resource = "users" if "/users/" in self._snapshot_tail[snapshot] else "groups"
        page = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{resource}(*)",
            "value": items[start : start + self.page_size],
        }
        if start + self.page_size < len(items):
            page["@odata.nextLink"] = f"{self.url}/v1.0/{resource}/delta?$skiptoken={snapshot}.{start + self.page_size}"
        else:
            page["@odata.deltaLink"] = self._snapshot_tail.pop(snapshot)
            del self._snapshots[snapshot]
        return 200, page, {}

    def _changes(self, resource, since, *, with_members: bool):
        items: list[dict[str, Any]] = []
        member_changes: dict[str, dict[str, bool]] = {}
        if resource == "groups" and with_members:
            for version, group_id, user_id, added in self.member_log:
                if since is not None and version > since and group_id in self.objects["groups"]:
                    member_changes.setdefault(group_id, {})[user_id] = added
        for object_id, version in sorted(self.changed_at[resource].items()):
            if since is not None and version <= since and object_id not in member_changes:
                continue
            item = {"id": object_id, **self.objects[resource][object_id]}
            if resource == "groups" and with_members:
                if since is None:  # the first round lists every member
                    item["members@delta"] = [_member(u) for u in sorted(self.members.get(object_id, ()))]
                elif object_id in member_changes:
                    item["members@delta"] = [
                        _member(u) if added else {**_member(u), "@removed": {"reason": "deleted"}}
                        for u, added in sorted(member_changes[object_id].items())
                    ]
            items.append(item)
        if since is not None:
            for object_id, version in sorted(self.deleted[resource].items()):
                if version > since:
                    items.append({"id": object_id, "@removed": {"reason": "deleted"}})
        return items

    def _member_objects(self, user_id):
        if user_id not in self.objects["users"]:
            return _graph_error(404, "Request_ResourceNotFound", f"Resource '{user_id}' does not exist.")
        groups = sorted(g for g, members in self.members.items() if user_id in members)
        return (
            200,
            {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)", "value": groups},
            {},
        )


def _member(user_id: str) -> dict[str, str]:
    return {"@odata.type": "#microsoft.graph.user", "id": user_id}


def _graph_error(status: int, code: str, message: str):
    return status, {"error": {"code": code, "message": message, "innerError": {"request-id": secrets.token_hex(8)}}}, {}


def _oauth_error(status: int, error: str, description: str):
    return (
        status,
        {"error": error, "error_description": description, "error_codes": [int(description[6:].split(":")[0])]},
        {},
    )
