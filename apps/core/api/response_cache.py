"""GET answers that are cheap to repeat: a DRF view mixin that caches the
rendered body in the Django cache (Redis) and answers revalidation with 304.

The view names what its answer depends on besides the URL and the format
(`response_cache_scope()`: tenant, a version of its data that any change
moves, the caller's role); the cache key is that scope, the absolute URL with
its query parameters sorted (pagination links carry the host and query) and
the negotiated media type. It is looked up after authentication, permissions
and throttling: a cached body is never served to a caller the view would
refuse.

Every such answer carries a strong ETag (a hash of the body),
`Cache-Control: private, no-cache` (browsers and clients keep it but ask
again; shared caches never keep it) and `Vary` on what selects the body. An
`If-None-Match` naming the current ETag (weak comparison, several values, or
`*`) is answered 304 without a body. `X-Cache` says where the body came
from: `hit` (the cache), `miss` (computed, then cached) or `off` (computed,
the cache not used: TTL 0, or the cache unavailable).

Failure modes: the cache failing (Redis away, timing out) costs the cache,
not the answer: the body is computed as if nothing were cached, the
failure is logged once until the cache answers again, and the cache is left
alone for RETRY_AFTER_FAILURE_SECONDS after each failure."""

import hashlib
import logging
import threading
import time
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import HttpResponse, HttpResponseNotModified
from django.utils.cache import parse_etags, patch_cache_control, patch_vary_headers, quote_etag
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

KEY_PREFIX = "response:v1:"
VARY = ("Accept", "Authorization", "Cookie", "X-Client")
# Copied onto a 304 (RFC 9110 15.4.5: the headers a 200 would have carried).
NOT_MODIFIED_HEADERS = ("Cache-Control", "ETag", "Vary", "X-Cache")

# After a failure the cache is left alone this long: a Redis that times out
# (rather than refusing at once) must not cost every request its timeout.
RETRY_AFTER_FAILURE_SECONDS = 5.0

_failed_at: float | None = None
_failed_lock = threading.Lock()


def _cache_usable() -> bool:
    failed_at = _failed_at
    return failed_at is None or time.monotonic() - failed_at >= RETRY_AFTER_FAILURE_SECONDS


def _cache_failed(action: str, exc: Exception) -> None:
    global _failed_at
    with _failed_lock:
        first, _failed_at = _failed_at is None, time.monotonic()
    if first:
        logger.warning("response cache unavailable, answering uncached until it is back (%s): %r", action, exc)


def _cache_answered() -> None:
    global _failed_at
    if _failed_at is not None:
        with _failed_lock:
            back, _failed_at = _failed_at is not None, None
        if back:
            logger.info("response cache available again")


def cache_get(key: str) -> tuple[dict | None, bool]:
    """(the entry or None, whether the cache answered at all)."""
    if not _cache_usable():
        return None, False
    try:
        entry = cache.get(key)
    except RedisError as exc:
        _cache_failed("get", exc)
        return None, False
    _cache_answered()
    if isinstance(entry, dict) and isinstance(entry.get("content"), bytes) and entry.get("content_type"):
        return entry, True
    return None, True


def cache_set(key: str, entry: dict, ttl: int) -> None:
    if not _cache_usable():
        return
    try:
        cache.set(key, entry, ttl)
    except RedisError as exc:
        _cache_failed("set", exc)
        return
    _cache_answered()


def etag_for(content: bytes) -> str:
    return quote_etag(hashlib.sha256(content).hexdigest()[:32])


def if_none_match(header: str, etag: str) -> bool:
    """True when the client's copy is current (RFC 9110 13.1.2: weak comparison)."""
    if not header:
        return False
    etags = parse_etags(header)
    if etags == ["*"]:
        return True
    ours = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == ours for tag in etags)


class CachedGetMixin:
    """For DRF views: caches 200 answers of GET/HEAD whose negotiated format
    is in `response_cache_formats` (never the browsable HTML API: it shows
    the user and a CSRF token)."""

    response_cache_formats: frozenset[str] = frozenset({"json"})

    def response_cache_scope(self) -> str | None:
        """What the answer depends on besides URL and format (the caller's
        client, role, data version...); None, the default: not cached. A view
        caches only what it says it may."""
        return None

    def response_cache_ttl(self) -> int:
        """Seconds a body stays cached; 0, the default, keeps nothing (ETags and 304 still work)."""
        return 0

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._response_cache = None
        if request.method not in ("GET", "HEAD") or request.accepted_renderer.format not in self.response_cache_formats:
            return
        scope = self.response_cache_scope()
        if scope is None:
            return
        ttl = self.response_cache_ttl()
        key = self._response_cache_key(request, scope)
        entry, answered = cache_get(key) if ttl > 0 else (None, False)
        status = "hit" if entry is not None else ("miss" if answered else "off")
        self._response_cache = {"key": key, "ttl": ttl, "status": status}
        if entry is not None:
            # The handler the dispatch calls next: the cached body, not the view's work.
            setattr(self, request.method.lower(), lambda *a, **kw: _replay(entry))

    @staticmethod
    def _response_cache_key(request, scope: str) -> str:
        # By name only (a stable sort): the order of a parameter's repeated values may mean something.
        query = urlencode(
            sorted(((k, v) for k, values in request.query_params.lists() for v in values), key=lambda kv: kv[0])
        )
        material = "\n".join((scope, request.build_absolute_uri(request.path), query, request.accepted_media_type))
        return KEY_PREFIX + hashlib.sha256(material.encode()).hexdigest()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        state = getattr(self, "_response_cache", None)
        if state is None or response.status_code != 200:
            return response
        if not getattr(response, "is_rendered", True):
            response.render()
        if state["status"] == "miss":
            entry = {"content": response.content, "content_type": response["Content-Type"]}
            cache_set(state["key"], entry, state["ttl"])
        response["ETag"] = etag_for(response.content)
        response["X-Cache"] = state["status"]
        patch_vary_headers(response, VARY)
        patch_cache_control(response, private=True, no_cache=True)
        if if_none_match(request.headers.get("If-None-Match", ""), response["ETag"]):
            not_modified = HttpResponseNotModified()
            for header in NOT_MODIFIED_HEADERS:
                if header in response:
                    not_modified[header] = response[header]
            return not_modified
        return response


def _replay(entry: dict) -> HttpResponse:
    return HttpResponse(entry["content"], content_type=entry["content_type"])
