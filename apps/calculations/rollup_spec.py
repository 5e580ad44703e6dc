"""What the router and the compiler know of a rollup (ARCHITECTURE.md,
section 5, item 3): a table in analytics_data of mergeable partial states per
bucket and dimension set, at one grain, materialized up to a watermark.

Column names are positional (`dim_<i>`, `m<i>_<state>`), never derived from
attribute codes, so they always fit PostgreSQL's 63-byte identifiers and
cannot collide with `bucket` or `row_count`."""

from dataclasses import dataclass, field
from datetime import datetime

GRAINS = ("minute", "hour", "day")
# Partial states a rollup can carry per measured attribute, and how a query merges them:
#   sum     numeric  SUM(sum)                      -> SUM, AVG (with count)
#   count   bigint   SUM(count)                    -> COUNT(x), AVG
#   min/max          MIN(min) / MAX(max)           -> MIN, MAX
#   hll     hll      hll_union_agg(hll)            -> COUNT_DISTINCT (approximate mode)
#   tdigest tdigest  ae_tdigest_percentile_cont(tdigest(tdigest), p) -> PERCENTILE (approximate mode)
STATES = ("sum", "count", "min", "max", "hll", "tdigest")
NUMERIC_STATES = ("sum", "min", "max", "tdigest")
HLL_LOG2M = 14  # registers 2^14: ~0.8% standard error
# Compression 500 keeps every value of a digest up to 130 values (the compaction merges none:
# PERCENTILE then equals exact mode's) and keeps larger buckets near 1% (docs/metrics-api.md).
TDIGEST_COMPRESSION = 500


@dataclass(frozen=True)
class RollupSpec:
    id: int
    client_id: int
    entity: str  # entity code
    schema: str
    table: str
    grain: str  # one of GRAINS
    dims: dict[str, str] = field(hash=False)  # attribute code -> column (dim_<i>)
    states: dict[tuple[str, str], str] = field(hash=False)  # (attribute code, state) -> column (m<i>_<state>)
    watermark: datetime | None = None  # materialized for buckets < watermark
    stale: tuple[tuple[datetime, datetime], ...] = ()  # invalidated ranges [min, max] not yet re-materialized
    row_count_column: str = "row_count"

    def has_state(self, attribute: str, state: str) -> bool:
        return (attribute, state) in self.states
