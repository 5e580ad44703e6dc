"""The one HTTP client of REST and GraphQL sources (docs/sources.md, "REST
APIs"). `http_client(spec)` makes it for one adapter operation.

Every request:
- goes only to an address `destination_check` permitted for the URL's host,
  checked again for each request, and is sent to that checked address (the
  host name kept for the Host header and for TLS, SNI and certificate), so a
  DNS answer that changes in between (rebinding) cannot take it into our
  network (the reasoning of apps/messaging/outbound.py);
- has the SOURCES_* connect and read timeouts; no proxy from the environment;
- verifies TLS certificates unless the connection says `"verify_tls": false`
  together with `"allow_unverified_tls": true` (unsafe, documented so);
- follows redirects only on the same scheme, host and port (at most 5);
- is retried with backoff (network.network_retrying) on network errors only
  (httpx.TransportError: refused, reset, timed out), never on an answer;
- on 429 waits the answer's Retry-After (seconds or an HTTP date; capped by
  SOURCES_RETRY_WAIT_MAX_SECONDS) and tries again, at most
  SOURCES_RETRY_ATTEMPTS times, then fails naming the rate limit;
- any other answer outside 2xx is a SourceError naming the status and the
  URL's path (never its query, which may carry an API key): stage "auth" for
  401, "permission" for 403, "query" otherwise;
- runs under the connection's circuit breaker (network.connection_breaker).

Credentials: the auth of a connection (`HttpAuth`) adds them to each
request; they never appear in an error, a log line or an answer."""

import base64
import hashlib
import logging
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import pybreaker
from django.conf import settings

from apps.connectors.adapters.base import ConnectionSpec
from apps.connectors.network import breaker_open_error, connection_breaker, destination_check, network_retrying
from apps.connectors.types import SourceError

logger = logging.getLogger(__name__)
# httpx logs every request's full URL at INFO; a source's URL may carry an API
# key in its query, so its lines are kept to warnings and above.
logging.getLogger("httpx").setLevel(logging.WARNING)

AUTH_TYPES = ("none", "api_key", "basic", "bearer", "oauth2_client_credentials")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_REDIRECTS = 5


def url_check(url: Any, field: str) -> str:
    """`url` when it is an absolute http(s) URL with a host and no
    credentials in it; else SourceError (400) naming `field`."""
    if not isinstance(url, str) or not url.strip():
        raise SourceError(f"{field} is required: the URL of the source.", code="invalid_settings", stage="dns")
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise SourceError(f"{field} must not contain spaces.", code="invalid_settings", stage="dns")
    parts = urlsplit(url)
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise SourceError(
            f"{field} must be an http:// or https:// URL with a host.", code="invalid_settings", stage="dns"
        )
    if "@" in parts.netloc:
        raise SourceError(
            f"{field} must not contain credentials (user:password@host); put them in the connection's credentials.",
            code="invalid_settings",
            stage="dns",
        )
    try:
        parts.port  # noqa: B018 - raises for a malformed port
    except ValueError:
        raise SourceError(f"{field} has an invalid port.", code="invalid_settings", stage="dns") from None
    return url


def auth_validate(auth: Any, credentials: dict | None) -> None:
    """The `auth` setting of a REST or GraphQL connection; credentials are
    checked only when given (an update that omits them keeps the old ones)."""
    from apps.core.errors import AppError

    if auth is None:
        return
    if not isinstance(auth, dict):
        raise AppError('settings.auth must be an object such as {"type": "bearer"}.', code="invalid_settings")
    kind = auth.get("type", "none")
    if kind not in AUTH_TYPES:
        raise AppError(
            f"settings.auth.type must be one of {', '.join(AUTH_TYPES)}; not {kind!r}.", code="invalid_settings"
        )
    if kind == "api_key" and bool(auth.get("header")) == bool(auth.get("query_param")):
        raise AppError(
            'settings.auth of type api_key needs exactly one of "header" or "query_param": where the key goes.',
            code="invalid_settings",
        )
    if kind == "oauth2_client_credentials":
        url_check(auth.get("token_url"), "settings.auth.token_url")
    needed = {
        "api_key": ("api_key",),
        "basic": ("username", "password"),
        "bearer": ("token",),
        "oauth2_client_credentials": ("client_id", "client_secret"),
    }.get(kind, ())
    if credentials:
        missing = [name for name in needed if not credentials.get(name)]
        if missing:
            raise AppError(
                f"credentials for auth type {kind} need {', '.join(missing)}.",
                code="invalid_credentials",
                details={"missing": missing},
            )


def tls_validate(settings_: dict) -> None:
    from apps.core.errors import AppError

    verify = settings_.get("verify_tls", True)
    if not isinstance(verify, bool):
        raise AppError("settings.verify_tls must be true or false.", code="invalid_settings")
    if verify is False and settings_.get("allow_unverified_tls") is not True:
        raise AppError(
            "settings.verify_tls false turns off certificate checks (unsafe: anyone on the path can read and change "
            'the answers); it is accepted only with "allow_unverified_tls": true as well.',
            code="invalid_settings",
        )


# --- Auth ----------------------------------------------------------------------------

_TOKENS: dict[str, tuple[str, float]] = {}  # cache key -> (access token, monotonic expiry)
_TOKENS_LOCK = threading.Lock()


def _token_cache_key(auth: dict, credentials: dict) -> str:
    material = "\0".join(
        str(x) for x in (auth.get("token_url"), auth.get("scope"), credentials.get("client_id"),
                         credentials.get("client_secret"))
    )  # fmt: skip
    return hashlib.sha256(material.encode()).hexdigest()


class HttpAuth:
    """Adds a connection's credentials to a request (headers or query
    parameters); OAuth2 client credentials: a token fetched from token_url,
    cached in the process until shortly before it expires."""

    def __init__(self, auth: dict | None, credentials: dict) -> None:
        self.auth = auth or {"type": "none"}
        self.kind = self.auth.get("type", "none")
        self.credentials = credentials or {}

    def _need(self, *names: str) -> list[str]:
        missing = [n for n in names if not self.credentials.get(n)]
        if missing:
            raise SourceError(
                f"The connection uses {self.kind} authentication but has no {', '.join(missing)} set in its "
                "credentials.",
                stage="auth",
                code="credentials_missing",
            )
        return [str(self.credentials[n]) for n in names]

    def apply(self, client: "SourceHttpClient", headers: dict[str, str], params: dict[str, Any]) -> None:
        if self.kind == "api_key":
            (key,) = self._need("api_key")
            if self.auth.get("header"):
                headers[str(self.auth["header"])] = key
            else:
                params[str(self.auth["query_param"])] = key
        elif self.kind == "basic":
            user, password = self._need("username", "password")
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        elif self.kind == "bearer":
            (token,) = self._need("token")
            headers["Authorization"] = f"Bearer {token}"
        elif self.kind == "oauth2_client_credentials":
            headers["Authorization"] = f"Bearer {self._oauth_token(client)}"

    def forget(self) -> bool:
        """Drop a cached OAuth2 token (after a 401); True when there was a
        token to refetch."""
        if self.kind != "oauth2_client_credentials":
            return False
        with _TOKENS_LOCK:
            return _TOKENS.pop(_token_cache_key(self.auth, self.credentials), None) is not None

    def _oauth_token(self, client: "SourceHttpClient") -> str:
        client_id, client_secret = self._need("client_id", "client_secret")
        key = _token_cache_key(self.auth, self.credentials)
        with _TOKENS_LOCK:
            cached = _TOKENS.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        if self.auth.get("scope"):
            form["scope"] = str(self.auth["scope"])
        response = client.send("POST", str(self.auth["token_url"]), data=form, what="The OAuth2 token endpoint",
                               auth_stage=True)  # fmt: skip
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise SourceError(
                "The OAuth2 token endpoint answered without an access_token.", stage="auth", code="oauth_token"
            ) from None
        try:
            expires_in = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600.0
        # Refetch a little before the source thinks it expires.
        expiry = time.monotonic() + max(0.0, expires_in - min(30.0, expires_in / 10))
        with _TOKENS_LOCK:
            _TOKENS[key] = (token, expiry)
        return token


# --- The client ------------------------------------------------------------------------


def retry_after_seconds(value: str | None) -> float:
    """Retry-After as seconds (a number or an HTTP date), 1 s when absent or
    unreadable, capped by SOURCES_RETRY_WAIT_MAX_SECONDS."""
    cap = float(settings.SOURCES_RETRY_WAIT_MAX_SECONDS)
    value = (value or "").strip()
    seconds = 1.0
    if value:
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = 1.0
    return min(cap, max(0.0, seconds))


def _is_tls_failure(exc: BaseException) -> bool:
    """A certificate the platform does not trust: no retry changes that."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _is_network_error(exc: BaseException) -> bool:
    """What is retried: refused, reset, timed out (never an answer, nor an
    untrusted certificate)."""
    return isinstance(exc, httpx.TransportError) and not _is_tls_failure(exc)


def _transport_error(exc: httpx.TransportError, host: str) -> SourceError:
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return SourceError(f"Connecting to {host} timed out.", stage="connect", code="timeout")
    if isinstance(exc, httpx.TimeoutException):
        return SourceError(f"{host} did not answer in time (read timeout).", stage="connect", code="timeout")
    if "certificate" in text or "ssl" in text or "tls" in text:
        return SourceError(
            f"The TLS handshake with {host} failed (its certificate could not be verified, or it does not speak "
            "TLS on that port).",
            stage="tls",
            code="tls_failed",
        )
    if isinstance(exc, httpx.ConnectError):
        return SourceError(
            f"{host} refused the connection or could not be reached: check the URL's host and port.",
            stage="connect",
            code="connection_refused",
        )
    return SourceError(f"The connection to {host} failed while reading the answer.", stage="connect", code="network")


def _status_error(status: int, what: str, path: str, *, auth_stage: bool = False) -> SourceError:
    if status == 401 or (auth_stage and status in (400, 403)):
        return SourceError(
            f"{what} refused the credentials (HTTP {status} for {path}): check them.", stage="auth",
            code="authentication_failed",
        )  # fmt: skip
    if status == 403:
        return SourceError(
            f"{what} denied access (HTTP 403 for {path}): the credentials lack the permission.",
            stage="permission", code="permission_denied",
        )  # fmt: skip
    if status == 404:
        return SourceError(f"{what} has nothing at {path} (HTTP 404).", stage="query", code="not_found_at_source")
    return SourceError(f"{what} answered HTTP {status} for {path}.", stage="query", code="source_http_error",
                       details={"status": status})  # fmt: skip


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # IDNA, lower case, IPv6 without brackets
    port: int
    path: str
    query: str

    @classmethod
    def of(cls, url: str) -> "_Target":
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
            raise SourceError("The source's URL is not an http(s) URL with a host.", stage="dns", code="invalid_url")
        try:
            host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise SourceError(
                f"{parts.hostname!r} is not a valid host name.", stage="dns", code="invalid_host"
            ) from None
        return cls(scheme, host, parts.port or _DEFAULT_PORTS[scheme], parts.path or "/", parts.query)

    def same_origin(self, other: "_Target") -> bool:
        return (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port)

    def url_for(self, address: str) -> str:
        shown = f"[{address}]" if ":" in address else address
        return urlunsplit((self.scheme, f"{shown}:{self.port}", self.path, self.query, ""))

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if _DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


class SourceHttpClient:
    """One connection's HTTP client for one operation; close() when done
    (or use it as a context manager)."""

    def __init__(self, spec: ConnectionSpec) -> None:
        self.key = spec.key or "unkeyed"
        self.auth = HttpAuth(spec.settings.get("auth"), spec.credentials)
        verify = not (spec.settings.get("verify_tls") is False and spec.settings.get("allow_unverified_tls") is True)
        timeout = httpx.Timeout(settings.SOURCES_READ_TIMEOUT_SECONDS, connect=settings.SOURCES_CONNECT_TIMEOUT_SECONDS)
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=verify)
        self._headers = {"User-Agent": "analytics-engine-sources", "Accept": "application/json"}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "SourceHttpClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def request(
        self, method: str, url: str, *, params: dict | None = None, json: Any = None, what: str = "The source"
    ) -> httpx.Response:
        """An authenticated request; a 2xx answer (read), else SourceError.
        A 401 with an OAuth2 token refetches the token once."""
        for attempt in (1, 2):
            headers, query = {}, dict(params or {})
            self.auth.apply(self, headers, query)
            try:
                return self.send(method, url, params=query, json=json, headers=headers, what=what)
            except SourceError as exc:
                if attempt == 1 and exc.stage == "auth" and exc.code == "authentication_failed" and self.auth.forget():
                    continue
                raise
        raise AssertionError("unreachable")

    def send(
        self,
        method: str,
        url: str,
        *,
        params: dict | None = None,
        json: Any = None,
        data: dict | None = None,
        headers: dict | None = None,
        what: str = "The source",
        auth_stage: bool = False,
    ) -> httpx.Response:
        """One request as the module says (no auth added)."""
        breaker = connection_breaker(self.key)
        rate_limited = 0
        while True:
            try:
                response = breaker.call(self._send_following, method, url, params, json, data, headers or {})
            except pybreaker.CircuitBreakerError:
                raise breaker_open_error(self.key) from None
            path = urlsplit(str(response.request.url)).path or "/"
            if 200 <= response.status_code < 300:
                return response
            if response.status_code == 429:
                rate_limited += 1
                if rate_limited > max(0, settings.SOURCES_RETRY_ATTEMPTS):
                    raise SourceError(
                        f"{what} kept answering HTTP 429 (rate limited) for {path} after {rate_limited} tries; "
                        "try later or lower the request rate.",
                        stage="query",
                        code="rate_limited",
                        status_code=503,
                    )
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                logger.info("source %s rate limited on %s; waiting %.1f s", self.key, path, wait)
                time.sleep(wait)
                continue
            raise _status_error(response.status_code, what, path, auth_stage=auth_stage)

    def _send_following(self, method, url, params, json, data, headers) -> httpx.Response:
        target = _Target.of(url)
        first = target
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._send_checked(method, target, params, json, data, headers)
            if response.status_code not in (301, 302, 303, 307, 308) or "location" not in response.headers:
                return response
            location = urljoin(f"{target.scheme}://{target.host_header}{target.path}", response.headers["location"])
            following = _Target.of(location)
            if not following.same_origin(first):
                raise SourceError(
                    f"The source redirects {target.path} to another host ({following.host}); redirects are followed "
                    "only on the same host: put the final URL in the connection.",
                    stage="query",
                    code="redirect_refused",
                )
            target, params = following, None
            if response.status_code == 303:
                method, json, data = "GET", None, None
        raise SourceError(f"The source redirected more than {_MAX_REDIRECTS} times.", stage="query", code="redirects")

    def _send_checked(self, method, target: _Target, params, json, data, headers) -> httpx.Response:
        def attempt() -> httpx.Response:
            addresses = destination_check(target.host, target.port)  # again at every attempt
            sent_headers = {**self._headers, **headers, "Host": target.host_header}
            extensions = {"sni_hostname": target.host} if target.scheme == "https" else None
            for position, address in enumerate(addresses):
                try:
                    # Merged by hand: httpx would replace the URL's own query (a next link's) by `params`.
                    sent_url = httpx.URL(target.url_for(address))
                    if params:
                        sent_url = sent_url.copy_merge_params(params)
                    response = self._client.request(
                        method, sent_url, json=json, data=data, headers=sent_headers, extensions=extensions
                    )
                    response.read()
                    return response
                except httpx.ConnectError:
                    if position + 1 < len(addresses):
                        continue
                    raise
            raise SourceError(f"{target.host} resolved to no address.", stage="dns", code="host_not_found")

        try:
            for trying in network_retrying(_is_network_error):
                with trying:
                    logger.debug("source %s: %s %s%s", self.key, method, target.host, target.path)
                    return attempt()
        except httpx.TransportError as exc:
            raise _transport_error(exc, target.host) from None
        raise AssertionError("unreachable")


def http_client(spec: ConnectionSpec) -> SourceHttpClient:
    """The HTTP client of a REST or GraphQL connection."""
    return SourceHttpClient(spec)
