"""Reading records from a connection for another app (ingestion's runs):
the destination rule, then the adapter's extraction under the connection's
circuit breaker, retried with backoff while OPENING it fails on the
network. A stream that breaks half-read is never retried here: the caller
fails the run and loads nothing (docs/sources.md, "Network")."""

import pybreaker

from apps.connectors.adapters import adapter_for
from apps.connectors.network import breaker_open_error, connection_breaker, network_retrying
from apps.connectors.profiles import profile_get, profile_spec, sql_destination_check
from apps.connectors.types import Extraction, ExtractRequest, SourceError

# Failures at stage "connect" that are an answer, not the network: no retry.
_NOT_NETWORK = ("destination_refused", "unknown_database", "source_unavailable")


def is_network_error(exc: BaseException) -> bool:
    """A failure worth a retry: the connection could not be opened or was
    lost (refused, timed out); never an answer (authentication, SQL, 4xx)."""
    return isinstance(exc, SourceError) and exc.stage == "connect" and exc.code not in _NOT_NETWORK


def records_extract(*, client_id: int, connection_code: str, request: ExtractRequest) -> Extraction:
    profile = profile_get(client_id=client_id, code=connection_code)
    spec = profile_spec(profile)
    sql_destination_check(spec)
    adapter = adapter_for(spec)
    breaker = connection_breaker(spec.key)
    try:
        for attempt in network_retrying(is_network_error):
            with attempt:
                return breaker.call(adapter.extract, request)
    except pybreaker.CircuitBreakerError:
        raise breaker_open_error(spec.key) from None
    raise AssertionError("unreachable: tenacity reraises the last failure")  # pragma: no cover
