"""A Microsoft Graph client on `requests`: an app-only token per tenant by the
OAuth client-credentials grant, and calls retried (tenacity) on throttling,
server errors and lost connections.

- Token: `POST {authority}/{tenant_id}/oauth2/v2.0/token` with
  `scope={graph_base_url}/.default`; cached per tenant, application and secret
  until AE_GRAPH_TOKEN_REFRESH_MARGIN_SECONDS before it expires. A 401 from
  Graph drops the cached token and tries once more with a new one.
- 429: wait what `Retry-After` says (capped by AE_GRAPH_RETRY_AFTER_MAX_SECONDS),
  then go on. 5xx and connection errors: exponential backoff. At most
  AE_GRAPH_MAX_ATTEMPTS tries; then a GraphError saying what Graph kept answering.
- Anything else that is not a 2xx is a GraphError at once, carrying Graph's
  own error code and message (`{"error": {"code", "message"}}`)."""

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

# Error codes with which Graph says a delta link is no longer good (the 410 of
# old, the 400 of today): the caller starts a full listing again.
DELTA_EXPIRED_CODES = frozenset({"syncStateNotFound", "resyncRequired", "syncStateInvalid"})


class GraphError(Exception):
    """Graph (or its token endpoint) refused or failed; `message` says which
    and why, in words an administrator can act on."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class GraphAuthError(GraphError):
    """No app-only token: wrong tenant, application id or secret, or a secret that expired."""


class DeltaExpired(GraphError):
    """The stored delta link expired (410, or 400 `syncStateNotFound`): list everything again."""


class _Retryable(Exception):
    def __init__(self, description: str, *, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after


@dataclass(frozen=True)
class GraphTenant:
    """What an app-only Graph token needs: where to ask, for which tenant and
    application, with which secret (decrypted), and which Graph to call."""

    authority: str
    tenant_id: str
    application_id: str
    client_secret: str
    graph_base_url: str

    @property
    def token_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def scope(self) -> str:
        return f"{self.graph_base_url.rstrip('/')}/.default"

    @property
    def cache_key(self) -> tuple[str, ...]:
        secret = hashlib.sha256(self.client_secret.encode()).hexdigest()
        return (self.token_url, self.application_id, self.scope, secret)


# Per process: (token, expires at, time.monotonic()) per GraphTenant.cache_key.
_tokens: dict[tuple[str, ...], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def graph_tokens_forget() -> None:
    """Drop every cached token (tests; a secret rotated in place)."""
    with _tokens_lock:
        _tokens.clear()


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from Graph; the backoff decides


def _wait(state: RetryCallState) -> float:
    cap = float(settings.AE_GRAPH_RETRY_AFTER_MAX_SECONDS)
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, _Retryable) and exc.retry_after is not None:
        return min(exc.retry_after, cap)
    return min(float(settings.AE_GRAPH_BACKOFF_BASE_SECONDS) * 2 ** (state.attempt_number - 1), cap)


def _graph_error(response: requests.Response, what: str) -> GraphError:
    code, message = "", response.text[:300]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or "")
        message = str(body["error"].get("message") or message)
    kind = DeltaExpired if response.status_code == 410 or code in DELTA_EXPIRED_CODES else GraphError
    return kind(
        f"{what} answered {response.status_code} {code}: {message}".strip(), status=response.status_code, code=code
    )


class GraphClient:
    """Calls Graph for one tenant. `on_throttled(seconds)` is told of every
    429 (a sync run counts them)."""

    def __init__(
        self,
        tenant: GraphTenant,
        *,
        session: requests.Session | None = None,
        on_throttled=None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.tenant = tenant
        self.session = session or requests.Session()
        self.on_throttled = on_throttled
        self.sleep = sleep  # how waits between attempts are spent (a test records them)

    # --- token -------------------------------------------------------------
    def token(self, *, fresh: bool = False) -> str:
        key = self.tenant.cache_key
        with _tokens_lock:
            cached = _tokens.get(key)
        if cached and not fresh and cached[1] > time.monotonic():
            return cached[0]
        body = self._call("POST", self.tenant.token_url, data=self._token_form(), authenticate=False)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise GraphAuthError(f"The token endpoint {self.tenant.token_url} returned no access_token.")
        lifetime = float(body.get("expires_in") or 0)
        usable_until = time.monotonic() + lifetime - settings.AE_GRAPH_TOKEN_REFRESH_MARGIN_SECONDS
        with _tokens_lock:
            _tokens[key] = (token, usable_until)
        return token

    def _token_form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self.tenant.application_id,
            "client_secret": self.tenant.client_secret,
            "scope": self.tenant.scope,
        }

    # --- calls -------------------------------------------------------------
    def url(self, path: str) -> str:
        """The absolute URL of a Graph path. An absolute URL (a nextLink or
        deltaLink Graph handed out) must be under the provider's Graph base
        URL: the bearer token is never sent anywhere else."""
        base = self.tenant.graph_base_url.rstrip("/")
        if not path.startswith(("http://", "https://")):
            return f"{base}{path}"
        if not path.startswith(f"{base}/"):
            raise GraphError(f"Refusing to follow a link outside {base}: {path.split('?')[0]}")
        return path

    def get(self, path_or_url: str) -> dict[str, Any]:
        return self._call("GET", self.url(path_or_url))

    def post(self, path_or_url: str, *, json: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", self.url(path_or_url), json=json)

    def pages(self, path_or_url: str) -> Iterator[dict[str, Any]]:
        """Every page of a (delta) listing, following `@odata.nextLink`; the
        last page carries `@odata.deltaLink` (delta queries) or nothing."""
        url: str | None = self.url(path_or_url)
        while url:
            page = self.get(url)
            yield page
            next_link = page.get("@odata.nextLink")
            url = self.url(next_link) if next_link else None

    def _call(self, method: str, url: str, *, authenticate: bool = True, **kwargs: Any) -> dict[str, Any]:
        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(max(1, int(settings.AE_GRAPH_MAX_ATTEMPTS))),
            wait=_wait,
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, url, authenticate, kwargs)
        except _Retryable as exc:
            attempts = settings.AE_GRAPH_MAX_ATTEMPTS
            raise GraphError(f"{method} {url} still failed after {attempts} attempts: {exc.description}") from exc

    def _attempt(self, method: str, url: str, authenticate: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
        what = f"{method} {url.split('?')[0]}"
        for renewed in (False, True):
            headers = {"Accept": "application/json"}
            if authenticate:
                headers["Authorization"] = f"Bearer {self.token(fresh=renewed)}"
            try:
                response = self.session.request(
                    method, url, headers=headers, timeout=settings.AE_GRAPH_TIMEOUT_SECONDS, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _Retryable(f"{what}: {exc.__class__.__name__}: {exc}") from exc
            if response.status_code == 401 and authenticate and not renewed:
                continue  # the cached token was revoked or expired early: one more try with a new one
            break
        status = response.status_code
        if status == 429:
            retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            if self.on_throttled is not None:
                self.on_throttled(retry_after)
            raise _Retryable(f"{what} answered 429 (throttled)", retry_after=retry_after)
        if status >= 500:
            raise _Retryable(
                f"{what} answered {status}", retry_after=_retry_after_seconds(response.headers.get("Retry-After"))
            )
        if not authenticate and status >= 400:
            raise self._token_error(response)
        if status >= 400:
            raise _graph_error(response, what)
        if status == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError as exc:
            raise GraphError(f"{what} answered {status} with a body that is not JSON.", status=status) from exc
        if not isinstance(body, dict):
            raise GraphError(f"{what} answered {status} with JSON that is not an object.", status=status)
        return body

    def _token_error(self, response: requests.Response) -> GraphAuthError:
        """The token endpoint's OAuth error (`error`, `error_description`, e.g.
        AADSTS7000215 for a wrong secret), said plainly."""
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = str(body.get("error") or "") if isinstance(body, dict) else ""
        description = str(body.get("error_description") or "") if isinstance(body, dict) else ""
        hint = {
            "invalid_client": "check the application id and the client secret (it may have expired)",
            "unauthorized_client": "the application is not registered in this tenant",
            "invalid_request": "check the tenant id",
            "invalid_scope": "check the Graph base URL",
        }.get(error, "")
        message = (
            f"No Graph token for tenant {self.tenant.tenant_id}: the token endpoint answered {response.status_code}"
        )
        message += f" {error}" if error else ""
        message += f" ({hint})" if hint else ""
        message += f": {description.splitlines()[0]}" if description else ""
        return GraphAuthError(message, status=response.status_code, code=error)
