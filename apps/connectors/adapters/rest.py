"""REST sources (docs/sources.md, "REST APIs"): a base URL, an auth, and
endpoints, each an object of the connection with a dotted path to its
records in the JSON answer and a pagination style (none, page, offset,
cursor, Link header). Every request goes through apps.connectors.http_client.

Extraction streams one page at a time; records are flattened (nested objects
-> dotted keys). Incremental reads filter client-side on the watermark column
(and also pass the watermark to the server when the endpoint names a
`watermark_param`)."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

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
from apps.connectors.types import Extraction, ExtractRequest, Preview, SourceError, SourceObject, TestOutcome
from apps.core.errors import AppError

PAGINATION_TYPES = ("none", "page", "offset", "cursor", "link")
_MAX_PAGES = 1_000_000  # a guard against a source that pages for ever


def _endpoint_validate(position: int, endpoint: Any, names: set[str]) -> None:
    where = f"settings.endpoints[{position}]"
    if not isinstance(endpoint, dict):
        raise AppError(f"{where} must be an object with name and path.", code="invalid_settings")
    name = endpoint.get("name")
    if not isinstance(name, str) or not name.strip():
        raise AppError(f"{where}.name is required.", code="invalid_settings")
    if name in names:
        raise AppError(f"{where}.name {name!r} is used by another endpoint.", code="invalid_settings")
    names.add(name)
    path = endpoint.get("path")
    if not isinstance(path, str) or not path.strip() or "://" in path:
        raise AppError(f'{where}.path must be a path under base_url, such as "/v1/policies".', code="invalid_settings")
    if not isinstance(endpoint.get("records_path", ""), str):
        raise AppError(f'{where}.records_path must be a dotted path such as "data.items".', code="invalid_settings")
    if not isinstance(endpoint.get("params", {}), dict):
        raise AppError(f"{where}.params must be an object of query parameters.", code="invalid_settings")
    pagination = endpoint.get("pagination") or {"type": "none"}
    if not isinstance(pagination, dict) or pagination.get("type", "none") not in PAGINATION_TYPES:
        raise AppError(
            f"{where}.pagination.type must be one of {', '.join(PAGINATION_TYPES)}.", code="invalid_settings"
        )
    if pagination.get("type") == "cursor" and not (pagination.get("cursor_path") and pagination.get("cursor_param")):
        raise AppError(
            f"{where}.pagination of type cursor needs cursor_path (where the next cursor is in the answer) and "
            "cursor_param (the query parameter to send it in).",
            code="invalid_settings",
        )
    size = pagination.get("page_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise AppError(f"{where}.pagination.page_size must be a positive integer.", code="invalid_settings")


@adapter_register("rest")
class RESTAdapter(Adapter):
    @classmethod
    def validate_settings(cls, settings_: dict, credentials: dict | None = None) -> None:
        if not isinstance(settings_, dict):
            raise AppError("settings must be an object.", code="invalid_settings")
        url_check(settings_.get("base_url"), "settings.base_url")
        auth_validate(settings_.get("auth"), credentials)
        tls_validate(settings_)
        endpoints = settings_.get("endpoints", [])
        if not isinstance(endpoints, list):
            raise AppError("settings.endpoints must be a list of endpoints.", code="invalid_settings")
        names: set[str] = set()
        for position, endpoint in enumerate(endpoints):
            _endpoint_validate(position, endpoint, names)

    # --- Endpoints --------------------------------------------------------------------

    def _endpoints(self) -> list[dict]:
        return list(self.spec.settings.get("endpoints") or [])

    def _endpoint(self, name: str) -> dict:
        for endpoint in self._endpoints():
            if name in (endpoint.get("name"), endpoint.get("path")):
                return endpoint
        raise SourceError(f"The connection has no endpoint named {name!r}.", stage="query", code="unknown_object",
                          status_code=404)  # fmt: skip

    def _url(self, endpoint: dict) -> str:
        base = str(self.spec.settings["base_url"]).rstrip("/") + "/"
        return urljoin(base, str(endpoint["path"]).lstrip("/"))

    def _records(self, endpoint: dict, body: Any) -> list:
        records_path = endpoint.get("records_path", "")
        records = path_get(body, records_path)
        name = endpoint["name"]
        if not path_present(records):
            raise SourceError(
                f"The answer of endpoint {name!r} has no {records_path!r} (its records_path).",
                stage="query",
                code="records_path_missing",
            )
        if records is None:
            return []
        if not isinstance(records, list):
            raise SourceError(
                f"{records_path or 'The answer'} of endpoint {name!r} is not a list of records.",
                stage="query",
                code="records_not_a_list",
            )
        return records

    def pages(
        self, client: SourceHttpClient, endpoint: dict, request: ExtractRequest | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The endpoint's records, flattened, one page at a time."""
        pagination = endpoint.get("pagination") or {"type": "none"}
        style = pagination.get("type", "none")
        params: dict[str, Any] = dict(endpoint.get("params") or {})
        if request and endpoint.get("watermark_param") and request.watermark_after not in (None, ""):
            params[str(endpoint["watermark_param"])] = str(request.watermark_after)
        size = pagination.get("page_size")
        if style == "page":
            number = int(pagination.get("start_page", 1))
            params[pagination.get("page_param", "page")] = number
            if size:
                params[pagination.get("page_size_param", "page_size")] = size
        elif style == "offset":
            size = size or 100
            offset = 0
            params[pagination.get("offset_param", "offset")] = offset
            params[pagination.get("limit_param", "limit")] = size
        elif style == "cursor" and size:
            params[pagination.get("page_size_param", "page_size")] = size
        url: str | None = self._url(endpoint)
        seen_cursors: set[str] = set()
        where = f"Endpoint {endpoint['name']!r}"
        for _ in range(_MAX_PAGES):
            response = client.request("GET", url, params=params, what=where)
            body = json_loads(response.text, where)
            records = self._records(endpoint, body)
            yield [flatten(record) for record in records]
            if style == "none" or not records:
                return
            if style == "page":
                if size and len(records) < size:
                    return
                number += 1
                params[pagination.get("page_param", "page")] = number
            elif style == "offset":
                if len(records) < size:
                    return
                offset += len(records)
                params[pagination.get("offset_param", "offset")] = offset
            elif style == "cursor":
                cursor = path_get(body, pagination["cursor_path"])
                if not path_present(cursor) or cursor in (None, "") or str(cursor) in seen_cursors:
                    return
                seen_cursors.add(str(cursor))
                params[pagination["cursor_param"]] = cursor
            elif style == "link":
                following = response.links.get("next", {}).get("url")
                if not following:
                    return
                # The next link carries its own query; keep the pages' walk on its host
                # (the client refuses another host).
                url = urljoin(url, following)
                if urlsplit(url).netloc != urlsplit(self._url(endpoint)).netloc:
                    raise SourceError(
                        f"{where}'s next-page link points to another host; the credentials are not sent there.",
                        stage="query",
                        code="link_refused",
                    )
                params = {}
        raise SourceError(f"{where} kept paging past {_MAX_PAGES} pages.", stage="query", code="too_many_pages")

    # --- Operations -------------------------------------------------------------------

    def extract(self, request: ExtractRequest) -> Extraction:
        endpoint = self._endpoint(request.source_object)
        if request.source_query:
            raise SourceError("REST connections read endpoints, not SQL queries.", stage="query", code="no_queries")
        client = http_client(self.spec)
        return paged_extraction(self.pages(client, endpoint, request), request, close=client.close)

    def _sample(self, client: SourceHttpClient, endpoint: dict, limit: int) -> list[dict[str, Any]]:
        return records_sample(self.pages(client, endpoint), limit)

    def discover(self) -> list[SourceObject]:
        objects = []
        with http_client(self.spec) as client:
            for endpoint in self._endpoints():
                sample = self._sample(client, endpoint, settings.SOURCES_DISCOVERY_SAMPLE)
                objects.append(SourceObject(name=endpoint["name"], kind="endpoint", columns=columns_infer(sample)))
        return objects

    def preview(self, *, source_object: str = "", source_query: str = "", limit: int) -> Preview:
        if source_query:
            raise SourceError("REST connections read endpoints, not SQL queries.", stage="query", code="no_queries")
        endpoint = self._endpoint(source_object)
        with http_client(self.spec) as client:
            rows = self._sample(client, endpoint, max(1, min(limit, settings.SOURCES_PREVIEW_MAX_ROWS)))
        return Preview(columns=columns_infer(rows), rows=rows)

    def test(self) -> TestOutcome:
        try:
            endpoints = self._endpoints()
            with http_client(self.spec) as client:
                if not endpoints:
                    client.request("GET", str(self.spec.settings.get("base_url")), what="The base URL")
                    return TestOutcome(True, "query", "The base URL answered; declare endpoints to read records.")
                endpoint = endpoints[0]
                page = next(self.pages(client, endpoint), [])
        except SourceError as exc:
            return TestOutcome(False, exc.stage, exc.message)
        return TestOutcome(
            True, "query", f"Endpoint {endpoint['name']!r} answered with {len(page)} records on its first page."
        )
