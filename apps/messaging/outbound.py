"""The outbound delivery every POST of the project to an outside URL goes
through (`outbound_attempt`): webhook deliveries (webhook_delivery.py),
signed, and threshold alerts of calculations, unsigned. What differs
between them is an `OutboundPolicy` and the job's hooks (`OutboundJob`,
apps.messaging.types).

- Destinations: http(s) only, no credentials in the URL, and (unless
  MESSAGING_WEBHOOK_ALLOW_PRIVATE) no host that resolves to a private,
  loopback, link-local, multicast or otherwise non-public address. The rule is
  checked when a URL is saved and again at every attempt, and the request goes
  to the address that was checked (the host name is kept for the Host header
  and TLS), so a DNS answer that changes in between (rebinding) cannot
  redirect a delivery into our network. Redirects are not followed.
- Signature (when the job has a secret): `X-AE-Signature: v1=<hex
  HMAC-SHA256 of "<timestamp>.<body>">`; `webhook_signature_verify` checks it.
- A circuit breaker per destination (scheme, host, port), its state in Redis so
  every worker shares it: after MESSAGING_WEBHOOK_BREAKER_FAIL_MAX consecutive
  failures no request is sent for MESSAGING_WEBHOOK_BREAKER_RESET_SECONDS;
  jobs due meanwhile are postponed without spending an attempt, then one
  trial request decides whether the circuit closes.
- Attempts: 2xx is delivered; anything else is retried with the policy's
  backoff up to its budget (a policy may give up on a 4xx at once and honour
  Retry-After); then the job says what failing means.
"""

import hashlib
import hmac
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx
import pybreaker
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.crypto import SecretDecryptionError
from apps.core.network_addresses import address_refusal
from apps.messaging.types import DeliveryOutcome, OutboundJob, OutboundPolicy, WebhookURLError

logger = logging.getLogger(__name__)

SIGNATURE_VERSION = "v1"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ERROR_BODY_BYTES = 500


# --- Destinations ------------------------------------------------------------------


class DestinationRefused(WebhookURLError):
    """The host resolves to an address outside the public internet."""


class DestinationUnresolved(WebhookURLError):
    """The host name does not resolve (now); may be temporary."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # lower case, IDNA-encoded, IPv6 without brackets
    port: int
    path: str
    query: str
    addresses: tuple[str, ...] = ()  # resolved and permitted, in resolver order

    @property
    def origin(self) -> str:
        """What the circuit breaker is keyed on."""
        return f"{self.scheme}://{self._host_in_url(self.host)}:{self.port}"

    @property
    def host_header(self) -> str:
        host = self._host_in_url(self.host)
        return host if _DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    def url_for(self, address: str) -> str:
        netloc = f"{self._host_in_url(address)}:{self.port}"
        return urlunsplit((self.scheme, netloc, self.path or "/", self.query, ""))

    @staticmethod
    def _host_in_url(host: str) -> str:
        return f"[{host}]" if ":" in host else host


def _url_parts(url: str) -> SplitResult:
    if not isinstance(url, str) or not url.strip():
        raise WebhookURLError("The webhook URL is empty.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise WebhookURLError("The webhook URL must not contain spaces or control characters.")
    if len(url) > 1000:
        raise WebhookURLError("The webhook URL is longer than 1000 characters.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise WebhookURLError("The webhook URL must start with http:// or https://.")
    if "@" in parts.netloc:
        raise WebhookURLError(
            "The webhook URL must not contain credentials (user:password@host); deliveries are authenticated by "
            "their signature."
        )
    if not parts.hostname:
        raise WebhookURLError("The webhook URL has no host.")
    try:
        parts.port  # noqa: B018 - raises for a malformed port
    except ValueError as exc:
        raise WebhookURLError("The webhook URL has an invalid port.") from exc
    return parts


def destination_resolve(url: str) -> Destination:
    """The destination of `url` with every address its host resolves to,
    all of them permitted by the private-address rule."""
    parts = _url_parts(url)
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise WebhookURLError(f"The webhook host {parts.hostname!r} is not a valid host name.") from exc
    port = parts.port or _DEFAULT_PORTS[scheme]
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationUnresolved(f"The webhook host {host} could not be resolved.") from exc
    addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
    if not settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            refusal = address_refusal(address)
            if refusal:
                shown = host if host == address else f"{host} resolves to {address}, which"
                raise DestinationRefused(
                    f"The webhook host {shown} is a {refusal} address; deliveries to private networks are refused "
                    "(MESSAGING_WEBHOOK_ALLOW_PRIVATE is off)."
                )
    return Destination(scheme, host, port, parts.path, parts.query, addresses)


def webhook_url_validate(url: str) -> str:
    """The URL, stripped, when deliveries may go there; else WebhookURLError
    (a 400 naming the problem). With private destinations allowed, the host
    need not resolve yet."""
    url = url.strip() if isinstance(url, str) else url
    if settings.MESSAGING_WEBHOOK_ALLOW_PRIVATE:
        _url_parts(url)
    else:
        destination_resolve(url)
    return url


# --- Signatures ----------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `X-AE-Signature` value for a body sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def webhook_signature_verify(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature: str,
    tolerance: int | None = 300,
    *,
    now: float | None = None,
) -> bool:
    """For receivers: True when `signature` (the `X-AE-Signature` header; may
    list several comma-separated `v1=` values) signs `body` (the raw request
    body, before any JSON parsing) sent at `timestamp` (the `X-AE-Timestamp`
    header), and the timestamp is within `tolerance` seconds of now (a
    replayed old request fails; None skips the check)."""
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if tolerance is not None and abs(current - sent_at) > tolerance:
        return False
    if isinstance(body, str):
        body = body.encode()
    expected = webhook_signature(secret, sent_at, body).encode()
    return any(hmac.compare_digest(part.strip().encode(), expected) for part in (signature or "").split(","))


# --- Circuit breaker ---------------------------------------------------------------


class DestinationFailed(Exception):
    """A request that did not end in a 2xx."""

    def __init__(self, message: str, status_code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after  # the answer's Retry-After, in seconds

    @property
    def is_destination_fault(self) -> bool:
        """Connection errors, timeouts, 5xx, 408 and 429 say the destination is
        unwell; other answers (a 4xx) say it is up, so the breaker counts them
        as successes while the delivery is still retried."""
        return self.status_code is None or self.status_code >= 500 or self.status_code in (408, 429)


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def breaker_namespace(origin: str) -> str:
    """The Redis key prefix of a destination's breaker state (pybreaker adds
    `:pybreaker:state`, `:pybreaker:fail_counter`, `:pybreaker:opened_at`, ...)."""
    return f"ae:webhook-breaker:{hashlib.sha256(origin.encode()).hexdigest()[:32]}"


@lru_cache(maxsize=1024)
def _breaker(origin: str, fail_max: int, reset_seconds: int, redis_url: str) -> pybreaker.CircuitBreaker:
    storage = pybreaker.CircuitRedisStorage(
        pybreaker.STATE_CLOSED, _redis(redis_url), namespace=breaker_namespace(origin)
    )
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_seconds,
        state_storage=storage,
        name=origin,
        exclude=[lambda exc: isinstance(exc, DestinationFailed) and not exc.is_destination_fault],
        # The call that trips the breaker was made: let its own error through, so
        # CircuitBreakerError always means "not called".
        throw_new_error_on_trip=False,
    )


def destination_breaker(origin: str) -> pybreaker.CircuitBreaker:
    """The breaker of one destination; its state lives in Redis, shared by
    every worker process."""
    return _breaker(
        origin,
        settings.MESSAGING_WEBHOOK_BREAKER_FAIL_MAX,
        settings.MESSAGING_WEBHOOK_BREAKER_RESET_SECONDS,
        settings.REDIS_URL,
    )


def destination_breaker_reset(origin: str) -> None:
    """Close a destination's circuit now (an operator who knows it is back)."""
    destination_breaker(origin).close()


# --- One attempt ----------------------------------------------------------------------


def outbound_backoff_seconds(attempts: int, *, base: float, maximum: float, floor: float = 0.0) -> float:
    """Exponential backoff with jitter: uniform in [floor * ceiling, ceiling],
    ceiling = min(maximum, base * 2^(attempts-1)); floor 0 is full jitter."""
    ceiling = min(maximum, base * 2 ** max(attempts - 1, 0))
    return random.uniform(floor * ceiling, ceiling)  # noqa: S311 - jitter, not cryptography


def _tls_verify() -> bool | ssl.SSLContext:
    """Certificates are checked against the public CAs, for the host name of
    the URL (sent as SNI) although the connection goes to the checked address."""
    return True


def _retry_after(value: str) -> float | None:
    return float(value) if value.isdigit() else None


def _post(destination: Destination, body: bytes, headers: dict[str, str]) -> int:
    """POST to the checked addresses in turn (the next only when one refuses
    the connection); the status code of the first answer, if 2xx."""
    timeout = httpx.Timeout(
        settings.MESSAGING_WEBHOOK_TIMEOUT_SECONDS, connect=min(5.0, settings.MESSAGING_WEBHOOK_TIMEOUT_SECONDS)
    )
    headers = {**headers, "Host": destination.host_header}
    extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else None
    # trust_env off: no proxy from the environment may take the request elsewhere.
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, verify=_tls_verify()) as client:
        for position, address in enumerate(destination.addresses):
            try:
                with client.stream(
                    "POST", destination.url_for(address), content=body, headers=headers, extensions=extensions
                ) as response:
                    if 200 <= response.status_code < 300:
                        return response.status_code
                    snippet = b""
                    for chunk in response.iter_bytes():
                        snippet += chunk
                        if len(snippet) >= _ERROR_BODY_BYTES:
                            break
                    text = snippet[:_ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
                    raise DestinationFailed(
                        f"HTTP {response.status_code}" + (f": {text}" if text else ""),
                        response.status_code,
                        _retry_after(response.headers.get("Retry-After", "")),
                    )
            except httpx.ConnectError as exc:
                if position + 1 < len(destination.addresses):
                    continue
                raise DestinationFailed(f"Connection failed: {exc}") from exc
            except (httpx.HTTPError, OSError) as exc:
                raise DestinationFailed(f"{type(exc).__name__}: {exc}") from exc
    raise DestinationFailed("The host resolved to no address.")


def _failed_attempt(job: OutboundJob, policy: OutboundPolicy, failure: DestinationFailed) -> DeliveryOutcome:
    """An attempt that did not deliver: tried again after a backoff, or (out
    of attempts, or an answer no retry changes) failed for good."""
    job.attempts += 1
    if not policy.retry_client_errors and not failure.is_destination_fault:
        return job.failed(failure.message, failure.status_code, answered=True)
    if job.attempts >= policy.max_attempts:
        return job.failed(f"{failure.message} (after {job.attempts} attempts)", failure.status_code, answered=True)
    retry_in = policy.backoff(job.attempts)
    if policy.honour_retry_after and failure.retry_after:
        retry_in = max(retry_in, failure.retry_after)
    return job.retry(failure.message, failure.status_code, retry_in)


def _postponed(job: OutboundJob, policy: OutboundPolicy, origin: str) -> DeliveryOutcome:
    # Postponing spends no attempt, so a long outage is bounded by time instead:
    # `idle_since` moves only when an attempt is made (or a replay resets the job).
    if policy.postpone_max_seconds is not None:
        waited = timezone.now() - job.idle_since
        if waited > timedelta(seconds=policy.postpone_max_seconds):
            message = f"The circuit to {origin} stayed open; no attempt was possible for {waited}."
            return job.failed(message, None, answered=False)
    reset = settings.MESSAGING_WEBHOOK_BREAKER_RESET_SECONDS
    # After the reset timeout, spread out so that one trial request goes first.
    return job.postponed(origin, reset + random.uniform(0, reset))  # noqa: S311


def outbound_attempt(*, claim: Callable[[], OutboundJob | None], policy: OutboundPolicy) -> DeliveryOutcome:
    """One attempt at one outbound POST: the job's URL and secret decrypted,
    its destination resolved and checked (SSRF rule), the body POSTed (signed
    when the job has a secret) through the destination's circuit breaker; then
    delivered, retried after a backoff, postponed while the circuit is open, or
    failed for good, as the job's hooks record it. `claim` runs first, inside
    the attempt's transaction: it locks the job's row (skipping a locked one)
    and returns None when there is nothing to send (done already, or another
    worker is sending it), so two workers never send the same job."""
    with transaction.atomic():
        job = claim()
        if job is None:
            return DeliveryOutcome("skipped")
        refusal = job.refusal()
        if refusal:
            return job.failed(refusal, None, answered=False)
        try:
            url, secret = job.url(), job.secret()
        except SecretDecryptionError as exc:
            return job.failed(str(exc), None, answered=False)
        try:
            destination = destination_resolve(url)
        except DestinationUnresolved as exc:
            return _failed_attempt(job, policy, DestinationFailed(exc.message))
        except WebhookURLError as exc:  # refused now (DNS rebinding, or the rule tightened): never sent
            job.attempts += 1
            return job.failed(exc.message, None, answered=False)

        body = job.body()
        headers = {"Content-Type": "application/json", "User-Agent": policy.user_agent, **job.headers()}
        if secret is not None:
            timestamp = int(time.time())
            headers["X-AE-Timestamp"] = str(timestamp)
            headers["X-AE-Signature"] = webhook_signature(secret, timestamp, body)
        try:
            status_code = destination_breaker(destination.origin).call(_post, destination, body, headers)
        except pybreaker.CircuitBreakerError:
            return _postponed(job, policy, destination.origin)
        except DestinationFailed as exc:
            return _failed_attempt(job, policy, exc)
        job.attempts += 1
        return job.delivered(status_code)
