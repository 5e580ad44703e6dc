"""Live values for subscribers under row policies (docs/access.md, "Row
policies"; docs/live.md). The `metric.<code>` channel carries values
computed without row policies, so a restricted subscriber is refused it and
listens to `metric.<code>.r<fingerprint>` instead: the same metric computed
under their restrictions (the first 16 hex digits of governance's
RowAccess fingerprint, so everyone with exactly the same restrictions
shares one channel and one computation). Subscribing stores the
restrictions under the fingerprint in Redis (refreshed on every subscribe)
so the publishers (the period publisher, live recalculation) can compute
for the channel without knowing who listens. Nothing computed here is
recorded or published on the bus."""

import json
from collections import defaultdict

from apps.calculations.cache import cache_connection
from apps.calculations.types import AccessContext
from apps.governance.types import EntityPolicy, RowAccess

CONTEXT_PREFIX = "ae:live:rows"
CONTEXT_TTL_SECONDS = 2 * 86400
FINGERPRINT_DIGITS = 16


def channel_suffix(rows: RowAccess) -> str:
    return "r" + rows.fingerprint()[:FINGERPRINT_DIGITS]


def _key(client_id: int, suffix: str) -> str:
    return f"{CONTEXT_PREFIX}:{client_id}:{suffix}"


def restrictions_remember(*, client_id: int, rows: RowAccess) -> str:
    """Store `rows` for the publishers; returns the channel suffix."""
    suffix = channel_suffix(rows)
    body = {"policies": [[p.entity, list(p.predicates)] for p in rows.policies], "values": list(rows.values)}
    cache_connection().set(_key(client_id, suffix), json.dumps(body), ex=CONTEXT_TTL_SECONDS)
    return suffix


def restrictions_recall(*, client_id: int, suffix: str) -> AccessContext | None:
    """The access context stored for a channel suffix (None: unknown or
    expired; nothing is computed for it then)."""
    raw = cache_connection().get(_key(client_id, suffix))
    if raw is None:
        return None
    body = json.loads(raw)
    rows = RowAccess(
        policies=tuple(EntityPolicy(entity, tuple(predicates)) for entity, predicates in body["policies"]),
        values=tuple((name, value) for name, value in body["values"]),
    )
    if channel_suffix(rows) != suffix:
        return None
    return AccessContext(client_id=client_id, rows=rows)


def restricted_channels(channels: list[str]) -> dict[str, list[str]]:
    """`metric.<code>.r<fp>` channels -> {suffix: [codes]}."""
    found: dict[str, list[str]] = defaultdict(list)
    for channel in channels:
        parts = channel.split(".")
        if len(parts) == 3 and parts[0] == "metric" and parts[2].startswith("r"):
            found[parts[2]].append(parts[1])
    return found
