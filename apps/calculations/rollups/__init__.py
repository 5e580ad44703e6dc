"""Rollups: tables of mergeable partial states per entity, grain, bucket and
dimension set (ARCHITECTURE.md, section 5, item 3; docs/rollups.md)."""
