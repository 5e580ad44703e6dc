"""Hooks higher layers register so the warehouse can speak of tables in their
terms without importing them (ARCHITECTURE.md, "Which way imports point").

- Table owners: the ontology knows which client and entity a table of
  `analytics_data` belongs to. Retention asks, so an archival event carries
  its tenant (its dead letters then show in that tenant's list) and a
  retention policy may name an entity code instead of a table.
- Chunk drops: the calculation engine drops the cached results that read the
  dropped range (told after the drop commits)."""

from collections.abc import Callable

from apps.warehouse.types import ChunkDropped, ChunkJob, TableOwner

_table_owner: list[Callable[[str, str], TableOwner | None]] = []
_entity_table: list[Callable[[int, str], str | None]] = []


def on_table_owner(callback: Callable[[str, str], TableOwner | None]) -> Callable[[str, str], TableOwner | None]:
    """`callback(table_schema, table_name)` -> the owner, or None when it does not know the table."""
    if callback not in _table_owner:
        _table_owner.append(callback)
    return callback


def on_entity_table(callback: Callable[[int, str], str | None]) -> Callable[[int, str], str | None]:
    """`callback(client_id, entity_code)` -> the entity's table name, or None."""
    if callback not in _entity_table:
        _entity_table.append(callback)
    return callback


def table_owner(*, table_schema: str, table_name: str) -> TableOwner | None:
    for callback in _table_owner:
        owner = callback(table_schema, table_name)
        if owner is not None:
            return owner
    return None


def entity_table(*, client_id: int, entity: str) -> str | None:
    for callback in _entity_table:
        table = callback(client_id, entity)
        if table is not None:
            return table
    return None


_chunk_dropped: list[Callable[[ChunkDropped], None]] = []


def on_chunk_dropped(callback: Callable[[ChunkDropped], None]) -> Callable[[ChunkDropped], None]:
    if callback not in _chunk_dropped:
        _chunk_dropped.append(callback)
    return callback


def chunk_dropped_listeners() -> list[Callable[[ChunkDropped], None]]:
    return list(_chunk_dropped)


_chunk_jobs: list[Callable[[str, list[str] | None], list[ChunkJob]]] = []


def on_chunk_jobs(
    callback: Callable[[str, list[str] | None], list[ChunkJob]],
) -> Callable[[str, list[str] | None], list[ChunkJob]]:
    """`callback(table_schema, table_names or None for all)` -> the worker's jobs of those tables."""
    if callback not in _chunk_jobs:
        _chunk_jobs.append(callback)
    return callback


def chunk_jobs(*, table_schema: str, table_names: list[str] | None) -> dict[tuple[str, str, str], ChunkJob]:
    """The worker's jobs by (event id, chunk schema, chunk name)."""
    jobs = {}
    for callback in _chunk_jobs:
        for job in callback(table_schema, table_names):
            jobs[(job.event_id, job.chunk_schema, job.chunk_name)] = job
    return jobs
