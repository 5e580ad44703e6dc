"""What every outbound call to a source goes through (docs/sources.md,
"Network"): the destination rule, retries on network errors, and a circuit
breaker per connection.

- `destination_check(host, port)`: the host must resolve, and none of its
  addresses may be link-local (the cloud metadata service), multicast or
  unspecified; loopback and private addresses only where
  SOURCES_ALLOW_PRIVATE_NETWORKS is on (development and tests).
- `network_retrying(is_network_error)`: tenacity, exponential backoff with
  jitter, SOURCES_RETRY_ATTEMPTS attempts, retrying only what the predicate
  calls a network error (never an answer: a 401, a 500, a SQL error).
- `connection_breaker(key)`: pybreaker with its state in Redis, shared by
  every worker; after SOURCES_BREAKER_FAIL_MAX consecutive failures calls are
  refused for SOURCES_BREAKER_RESET_SECONDS, then one trial decides."""

import hashlib
import ipaddress
import re
import socket
from collections.abc import Callable
from functools import lru_cache

import pybreaker
import redis
import tenacity
from django.conf import settings

from apps.connectors.types import SourceError
from apps.core.network_addresses import address_refusal

# Never reachable, whatever SOURCES_ALLOW_PRIVATE_NETWORKS says.
_ALWAYS_REFUSED = ("link-local", "multicast", "unspecified")


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def host_validate(host: object, *, field: str = "host") -> str:
    """A connection's host as saved: a DNS name (IDNA allowed) or an IP
    literal, nothing else (no spaces, control characters, ports, paths or
    credentials); an IP literal must also pass the address rule. Resolution
    is checked again at every use (destination_check)."""
    if not isinstance(host, str) or not host.strip():
        raise SourceError(f"settings.{field} is required: the server's name or address.", stage="dns",
                          code="invalid_settings", details={"field": field})  # fmt: skip
    text = host.strip()
    literal = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        address = None
    if address is not None:
        refusal = address_refusal(str(address))
        if refusal in _ALWAYS_REFUSED or (refusal and not settings.SOURCES_ALLOW_PRIVATE_NETWORKS):
            raise SourceError(
                f"settings.{field} {text!r} is a {refusal} address; sources on such addresses are refused.",
                stage="connect", code="destination_refused", details={"field": field},
            )  # fmt: skip
        return str(address)
    try:
        ascii_name = text.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    if not ascii_name or len(ascii_name) > 253 or not all(_HOST_LABEL.match(label) for label in ascii_name.split(".")):
        raise SourceError(
            f"settings.{field} {text[:100]!r} is not a host name or an IP address (no scheme, port, path or spaces).",
            stage="dns", code="invalid_settings", details={"field": field},
        )  # fmt: skip
    return text


def destination_check(host: str, port: int) -> tuple[str, ...]:
    """The addresses `host` resolves to, all permitted; SourceError (stage
    "dns") when it does not resolve, (stage "connect", code
    "destination_refused") when an address is not one we may reach."""
    if not host or any(ch.isspace() or ord(ch) < 32 for ch in host):
        raise SourceError("The connection has no valid host.", stage="dns", code="invalid_host")
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise SourceError(
            f"The host {host!r} could not be found (DNS): check its spelling, or that it is reachable from the "
            "platform's network.",
            stage="dns",
            code="host_not_found",
        ) from None
    addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        refusal = address_refusal(address)
        if refusal in _ALWAYS_REFUSED or (refusal and not settings.SOURCES_ALLOW_PRIVATE_NETWORKS):
            shown = host if host == address else f"{host} resolves to {address}, which"
            raise SourceError(
                f"The host {shown} is a {refusal} address; sources on such addresses are refused"
                + ("." if refusal in _ALWAYS_REFUSED else " (SOURCES_ALLOW_PRIVATE_NETWORKS is off)."),
                stage="connect",
                code="destination_refused",
            )
    return addresses


def network_retrying(is_network_error: Callable[[BaseException], bool]) -> tenacity.Retrying:
    """Retry a call while it fails with a network error, backing off."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, settings.SOURCES_RETRY_ATTEMPTS)),
        wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=settings.SOURCES_RETRY_WAIT_MAX_SECONDS),
        retry=tenacity.retry_if_exception(is_network_error),
        reraise=True,
    )


def breaker_namespace(key: str) -> str:
    return f"ae:source-breaker:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


@lru_cache(maxsize=1024)
def _breaker(key: str, fail_max: int, reset_seconds: int, redis_url: str) -> pybreaker.CircuitBreaker:
    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace=breaker_namespace(key))
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_seconds,
        state_storage=storage,
        name=key,
        # A source that answered (wrong password, SQL error, 4xx) is not down.
        exclude=[lambda exc: isinstance(exc, SourceError) and exc.stage not in ("dns", "connect", "tls")],
        throw_new_error_on_trip=False,
    )


def connection_breaker(key: str) -> pybreaker.CircuitBreaker:
    """The breaker of one connection ("<client id>:<code>")."""
    return _breaker(key, settings.SOURCES_BREAKER_FAIL_MAX, settings.SOURCES_BREAKER_RESET_SECONDS, settings.REDIS_URL)


def breaker_open_error(key: str) -> SourceError:
    return SourceError(
        f"The source has failed {settings.SOURCES_BREAKER_FAIL_MAX} times in a row; calls to it are paused for "
        f"{settings.SOURCES_BREAKER_RESET_SECONDS} s before one trial (circuit breaker).",
        stage="connect",
        code="source_unavailable",
        status_code=503,
    )
